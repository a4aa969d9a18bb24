"""What the code imports is what pyproject.toml declares, and nothing declared sits unused.

Import names are mapped to distributions through the installed distributions' own
metadata (`importlib.metadata.packages_distributions`), so `serial` counts as pyserial
and `paho` as paho-mqtt without a hand-kept table.
"""

import ast
import importlib.metadata as md
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
OURS = {"costing", "drivers", "gateway", "simulators", "tests"}
PACKAGES = ("costing", "drivers", "gateway", "simulators")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    test = {_name(r) for r in project["optional-dependencies"]["test"]}
    return runtime, test


def _imports(folders) -> dict[str, set[str]]:
    """Top-level third-party module -> files importing it."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in OURS:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _distributions(modules) -> dict[str, set[str]]:
    by_module = md.packages_distributions()
    out = {}
    for module in modules:
        dists = {d.lower().replace("_", "-") for d in by_module.get(module, [])}
        out[module] = dists or {f"<no installed distribution provides {module!r}>"}
    return out


def test_every_import_of_the_packages_is_a_declared_dependency():
    runtime, _ = _declared()
    used = _imports(PACKAGES)
    undeclared = {m: sorted(used[m]) for m, dists in _distributions(used).items()
                  if not dists & runtime}
    assert undeclared == {}


def test_every_import_of_the_tests_is_declared_for_the_package_or_its_tests():
    runtime, test = _declared()
    used = _imports(["tests"])
    undeclared = {m: sorted(used[m]) for m, dists in _distributions(used).items()
                  if not dists & (runtime | test)}
    assert undeclared == {}


def test_every_declared_dependency_is_imported():
    runtime, _ = _declared()
    used = set().union(*_distributions(_imports(PACKAGES)).values())
    assert runtime - used == set()
