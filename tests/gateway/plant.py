"""A small plant for journal and CLI tests, written out as files the way a plant ships
them (gateway.toml + master-data CSVs), and a `gateway` runner for the real CLI.

Standard costs, by hand (roll-up, see docs/accounting.md):
  S (semi)  = 2 A x 2.00 + WC1 0.1 h x (30 + 20)                          =  9.00
  F (fin.)  = 1 S x 9.00 + 3 C x 0.50 + 1 B x 1.00
              + WC2 0.2 h x (40 + 10) + WC3 0.5 h x (50 + 30)             = 61.50
  std_through(F, 10) = 9.00 + 1.50 + 10.00                                = 20.50
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]

ACCOUNTS = """\
[accounts]
wip = "1400"
grni = "2100"
ppv = "5210"
material_usage_variance = "5220"
material_price_variance = "5230"
labor_efficiency_variance = "5240"
overhead_efficiency_variance = "5250"
applied_labor = "5310"
applied_overhead = "5320"
scrap = "5400"
cogs = "5000"
revenue = "4000"
ar = "1200"
inventory_adjustment = "5500"
rounding = "5900"

[accounts.inventory]
raw = "1310"
semi = "1320"
finished = "1330"
"""

GATEWAY_TOML = """\
[gateway]
id = "test-plant"
db = "var/gateway.db"
master_data = "master"
currency = "EUR"
currency_decimals = 2

[costing]
method = "standard"

""" + ACCOUNTS + """
[reconcile.categories]
available = ["available"]
unavailable = ["quality", "damaged", "pending_putaway"]
"""

MASTER = {
    "items.csv": """\
        sku,description,uom,kind,costing,standard_cost,lot_size,gtin,inventory_account
        A,Steel,kg,raw,standard,2.00,1,,
        B,Resin,ea,raw,average,1.00,1,,
        C,Screw,ea,raw,fifo,0.50,1,,
        S,Frame,ea,semi,standard,,1,,
        F,Widget,ea,finished,standard,,1,,
        """,
    "boms.csv": """\
        parent,component,qty_per,scrap_pct,consumption,operation
        S,A,2,0,backflush,10
        F,S,1,0,backflush,10
        F,C,3,0,backflush,10
        F,B,1,0,issue,20
        """,
    "routings.csv": """\
        parent,operation,work_center,setup_hours,run_hours
        S,10,WC1,0,0.1
        F,10,WC2,0,0.2
        F,20,WC3,0,0.5
        """,
    "work_centers.csv": """\
        id,labor_rate,overhead_rate,labor,location
        WC1,30,20,backflush,L1
        WC2,40,10,backflush,L2
        WC3,50,30,reported,L2
        """,
    "locations.csv": """\
        id,kind
        RM,stores
        L1,line
        L2,line
        FG,finished
        QA,quality
        """,
    "purchase_orders.csv": """\
        po,sku,unit_price
        PO-1,A,2.10
        PO-2,B,1.20
        """,
}


def write_plant(where: pathlib.Path, toml: str = GATEWAY_TOML) -> pathlib.Path:
    (where / "master").mkdir(parents=True, exist_ok=True)
    for name, text in MASTER.items():
        (where / "master" / name).write_text(textwrap.dedent(text))
    cfg = where / "gateway.toml"
    cfg.write_text(toml)
    return cfg


def ev(id_: str, type_: str, **fields) -> dict:
    return {"id": id_, "type": type_, "ts": "2026-11-20T08:00:00Z", **fields}


def write_events(path: pathlib.Path, events: list) -> pathlib.Path:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n"
                            for e in events))
    return path


def gateway(*args: str, check: bool = False, env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `gateway` command line (python -m gateway) in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "gateway", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"gateway {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def gateway_on_tty(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    """Run the real command line with its stderr on a pseudo-terminal, as a person at a
    terminal sees it; (exit status, stdout, everything written to the terminal)."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "gateway", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    seen = bytearray()
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    out = proc.stdout.read()
    proc.stdout.close()
    return proc.wait(timeout=timeout), out, seen.decode("utf-8", "replace")
