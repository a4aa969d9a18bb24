"""PostgreSQL fixtures for tests: one real private cluster per session, a fresh database per test.

    from tests.support.postgres import pg_cluster, postgres_dsn  # noqa: F401 (fixtures)

    def test_x(postgres_dsn):
        with psycopg.connect(postgres_dsn) as conn: ...

The cluster is simulators.postgres.Postgres (initdb + pg_ctl in a temp folder, own port).
If PostgreSQL is not installed the test FAILS naming the programs and `./setup.sh`.
"""

from __future__ import annotations

import itertools

import psycopg
import pytest

from simulators.postgres import Postgres, PostgresMissing

__all__ = ["pg_cluster", "postgres_dsn"]

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster():
    """A started private cluster for the whole session (initdb costs about a second)."""
    try:
        cluster = Postgres()
    except PostgresMissing as missing:
        pytest.fail(str(missing), pytrace=False)  # never a skip: CI must have PostgreSQL
    cluster.start()
    yield cluster
    cluster.close()


@pytest.fixture
def postgres_dsn(pg_cluster) -> str:
    """The DSN of a database made for this test alone (dropped afterwards)."""
    name = f"t{next(_names)}"
    admin = pg_cluster.dsn.replace(f"dbname={pg_cluster.dbname}", "dbname=postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_cluster.dsn.replace(f"dbname={pg_cluster.dbname}", f"dbname={name}")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
