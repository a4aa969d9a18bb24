"""A plant.toml for the consolidator tests."""

from __future__ import annotations

import pathlib
import textwrap


def write_plant_toml(folder: pathlib.Path, *, servers: list[str] | None = None,
                     gateways=("line1", "line2"), stream: str = "GL", extra_nats: str = "",
                     subject: str = "gl.plant1.>",
                     dsn_env: str = "PLANT_TEST_DSN") -> pathlib.Path:
    path = pathlib.Path(folder) / "plant.toml"
    servers = servers or ["nats://127.0.0.1:4222"]
    path.write_text(textwrap.dedent(f"""\
        [plant]
        id = "plant1"
        currency = "EUR"
        currency_decimals = 2
        gateways = {list(gateways)!r}

        [nats]
        servers = {servers!r}
        stream = "{stream}"
        subject = "{subject}"
        durable = "plant1-consolidator"
        """) + textwrap.dedent(extra_nats) + textwrap.dedent(f"""
        [postgres]
        dsn_env = "{dsn_env}"
        """).replace("'", '"'))
    return path
