"""docs/configuration.md is what `gateway config-doc` writes, and it leaves no key unexplained."""

import pathlib
import subprocess
import sys

import msgspec.inspect as mi

from gateway import config as cfg
from gateway.config_doc import render

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"


def test_the_checked_in_page_is_what_the_command_prints():
    out = subprocess.run([sys.executable, "-m", "gateway", "config-doc"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert out == render()
    assert PAGE.read_text(encoding="utf-8") == out, \
        "docs/configuration.md is stale: run `gateway config-doc -o docs/configuration.md`"


def _rows(page: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in page.splitlines()
            if line.startswith("| `")]


def test_every_key_has_a_type_a_default_and_a_description():
    rows = _rows(render())
    assert len(rows) > 80
    blank = [r[0] for r in rows if not r[3]]
    assert blank == []


def test_every_field_of_every_section_is_listed():
    keys = {r[0].strip("`") for r in _rows(render())}

    def fields(t):
        for f in t.fields:
            yield f.name
            inner = f.type.item_type if isinstance(f.type, mi.ListType) else f.type
            for s in getattr(inner, "types", (inner,)):
                if isinstance(s, mi.StructType):
                    yield from fields(s)

    missing = set(fields(mi.type_info(cfg.Config))) - keys - {"file"}
    # section names are headings, not rows ("devices" is also a key of an MQTT device)
    assert missing == {"gateway", "accounts", "inventory", "costing", "matching", "reconcile", "mqtt",
                       "counters", "stations", "upstream", "dashboard", "demo", "limits",
                       "alerts", "scrap_rate", "consumption", "stalled", "stock_out", "margin",
                       "route"}
