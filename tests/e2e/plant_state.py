"""How far the plant has got, read from PostgreSQL and from the durable consumer."""

from __future__ import annotations

import nats
import psycopg


def applied(dsn: str) -> dict[str, int]:
    """Each gateway's last applied seq ({} before the first consolidator made the tables)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            return dict(conn.execute("SELECT gateway, last_seq FROM plant_gateways").fetchall())
        except psycopg.errors.UndefinedTable:
            return {}


async def consumer_idle(url: str, *, user: str | None = None, password: str | None = None,
                        stream: str = "GL", durable: str = "plant1-consolidator") -> bool:
    """Nothing left for the consolidators: no message pending, none delivered unacked."""
    nc = await nats.connect(url, user=user, password=password)
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
        return info.num_pending == 0 and info.num_ack_pending == 0
    finally:
        await nc.close()
