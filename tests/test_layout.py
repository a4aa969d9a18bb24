"""House rules that hold for the whole tree (see docs/architecture.md)."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "costing": {"gateway", "drivers", "simulators", "asyncio", "sqlite3", "sqlite_utils",
                "aiohttp", "paho", "aiomqtt", "asyncua", "serial", "msgspec", "socket",
                # no I/O in the engine: files are the gateway's (e.g. gateway.spill)
                "os", "tempfile", "io", "pathlib", "shutil", "mmap"},
    "drivers": {"costing", "gateway", "simulators"},
    "gateway": {"simulators"},
}
# The demo and the benchmark stand up simulated plants by design (see docs/operations.md, docs/performance.md).
ALLOWED = {"gateway/commands/demo.py", "gateway/commands/bench.py", "gateway/bench/consolidation.py"}


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_layers_import_only_what_the_layout_allows():
    violations = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            if str(path.relative_to(ROOT)) in ALLOWED:
                continue
            bad = _imports(path) & forbidden
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []

