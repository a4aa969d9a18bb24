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


def _bound_above(requirement: str) -> bool:
    return re.search(r"(^|[,\s\d])<", requirement.split(";")[0]) is not None


def _private_uses(folders) -> dict[str, set[str]]:
    """Third-party module -> 'file: what' for each use of a private name it defines.

    Seen from the source alone: a keyword argument `_x=` passed to a callable imported
    from the module, a method `_x` defined in a class deriving from one of its classes
    (an override of a private hook), and `module._x` attribute access. A private
    attribute read off an instance (`client._x`) needs types and is not seen.
    """
    found: dict[str, set[str]] = {}

    def private(name: str) -> bool:
        return name.startswith("_") and not name.startswith("__")

    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            rel = str(path.relative_to(ROOT))
            origin: dict[str, str] = {}  # local name -> top-level third-party module
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for a in node.names:
                        origin[(a.asname or a.name).split(".")[0]] = a.name.split(".")[0]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    for a in node.names:
                        origin[a.asname or a.name] = node.module.split(".")[0]
            origin = {k: v for k, v in origin.items()
                      if v not in sys.stdlib_module_names and v not in OURS}

            def root(expr):
                while isinstance(expr, ast.Attribute):
                    expr = expr.value
                return origin.get(expr.id) if isinstance(expr, ast.Name) else None

            def note(module, what):
                found.setdefault(module, set()).add(f"{rel}: {what}")

            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and (module := root(node.func)):
                    for kw in node.keywords:
                        if kw.arg and private(kw.arg):
                            note(module, f"{kw.arg}= keyword")
                elif isinstance(node, ast.ClassDef):
                    for module in filter(None, map(root, node.bases)):
                        for item in node.body:
                            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) \
                                    and private(item.name):
                                note(module, f"{node.name}.{item.name} overrides")
                elif isinstance(node, ast.Attribute) and private(node.attr) \
                        and isinstance(node.value, ast.Name | ast.Attribute) \
                        and (module := root(node.value)):
                    note(module, f".{node.attr}")
    return found


def test_the_scan_sees_the_private_uses_it_claims_to(tmp_path, monkeypatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(
        "import paho.mqtt.client as mqtt\nfrom numba import njit\nimport numpy as np\n"
        "@njit(_nrt=False)\ndef f(): pass\n"
        "class C(mqtt.Client):\n    def _sock_recv(self, n): pass\n    def __init__(self): pass\n"
        "x = np._core\ny = np.array([1])\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _private_uses(["pkg"]) == {
        "numba": {"pkg/m.py: _nrt= keyword"},
        "paho": {"pkg/m.py: C._sock_recv overrides"},
        "numpy": {"pkg/m.py: ._core"},
    }


def test_a_dependency_whose_private_names_are_used_has_an_upper_bound():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = {_name(r): r for r in project["dependencies"]}
    uses = _private_uses(PACKAGES)
    assert uses, "the scan found none of the private uses known to exist (paho, numba)"
    unbounded = {}
    for module, dists in _distributions(uses).items():
        for dist in dists & requirements.keys():
            if not _bound_above(requirements[dist]):
                unbounded[requirements[dist]] = sorted(uses[module])
    assert unbounded == {}, "pin below the next untested release: " + repr(unbounded)
