import pytest

from gateway import failpoints
from simulators.erp import ErpSimulator

from .ledger import open_db


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "gateway.db"


@pytest.fixture
def conn(db_path):
    c = open_db(db_path)
    yield c
    c.close()


@pytest.fixture
async def erp():
    sim = await ErpSimulator().start()
    yield sim
    await sim.stop()


@pytest.fixture(autouse=True)
def _no_failpoints():
    yield
    failpoints.disarm()
