"""`gateway check` through the real command line: exit 0 with the roll-up table, or
exit 1 with every config and master-data problem on stderr."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

from tests.gateway.test_config import DEMO, MINIMAL

ROOT = pathlib.Path(__file__).resolve().parents[2]
GATEWAY = pathlib.Path(sys.executable).parent / "gateway"


def check(config: pathlib.Path | str, cwd: pathlib.Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(GATEWAY), "check", "-c", str(config)], cwd=cwd,
                          capture_output=True, text=True, timeout=90,
                          env={**os.environ, "PYTHONWARNINGS": "error"})


# Worked by hand from config/demo/master (roll-up formula, see docs/accounting.md):
# SA-FRAME  material 1.2*1.05*2.50 + 8*0.05                     = 3.5500
#           labor    (0.50/50+0.05 + 0.25/50+0.04) * 38.50       = 4.0425
#           overhead (0.105) * 22.00                             = 2.3100
# FG-WIDGET material 9.9025 + 4*0.05 + 0.35*1.02*3.20 + 0.40     = 11.6449
#           labor    (1/100+0.08)*34 + (0.5/100+0.03)*41 + (0.2/100+0.01)*28 = 4.8310
#           overhead 0.09*18 + 0.035*35 + 0.012*12               = 2.9890
DEMO_TABLE = """\
sku        kind      method    level  material   labor  overhead      std   given  difference
---------  --------  --------  -----  --------  ------  --------  -------  ------  ----------
RM-STEEL   raw       standard      0    2.5000  0.0000    0.0000   2.5000  2.5000
RM-RESIN   raw       average       0    3.2000  0.0000    0.0000   3.2000  3.2000
RM-SCREW   raw       fifo          0    0.0500  0.0000    0.0000   0.0500  0.0500
RM-BOX     raw       standard      0    0.4000  0.0000    0.0000   0.4000  0.4000
SA-FRAME   semi      standard      1    3.5500  4.0425    2.3100   9.9025
FG-WIDGET  finished  standard      2   11.6449  4.8310    2.9890  19.4649
"""


def test_demo_config_prints_the_rollup_and_exits_0():
    result = check(DEMO / "gateway.toml")
    assert (result.returncode, result.stderr) == (0, "")
    table, summary = result.stdout.rsplit("\n", 2)[0] + "\n", result.stdout.splitlines()[-1]
    assert table == DEMO_TABLE
    assert summary == (
        f"{DEMO / 'gateway.toml'}: OK (demo config: security relaxed on purpose): 6 items "
        "(4 purchased, 2 rolled up), 6 BOM lines, 5 routing steps, 4 work centers, "
        "5 locations, 4 PO lines, 3 stations, 4 devices; costs in EUR")


def _plant(folder: pathlib.Path, toml: str) -> pathlib.Path:
    shutil.copytree(DEMO / "master", folder / "master")
    (folder / "gateway.toml").write_text(toml)
    return folder / "gateway.toml"


def test_a_frozen_standard_cost_shows_its_difference_to_the_rollup(tmp_path):
    _plant(tmp_path, MINIMAL)
    items = tmp_path / "master" / "items.csv"
    items.write_text(items.read_text().replace(
        "FG-WIDGET,Widget assembled and packed,ea,finished,standard,,",
        "FG-WIDGET,Widget assembled and packed,ea,finished,standard,20.00,"))
    result = check("gateway.toml", cwd=tmp_path)  # a relative -c works from its folder
    assert result.returncode == 0, result.stderr
    widget = next(line for line in result.stdout.splitlines() if line.startswith("FG-WIDGET"))
    assert widget.split() == ["FG-WIDGET", "finished", "standard", "2", "11.6449", "4.8310",
                              "2.9890", "20.0000", "20.0000", "-0.5351"]
    assert result.stdout.splitlines()[-1].endswith(
        "; 1 frozen standard cost differs from the roll-up; costs in EUR")


def test_every_config_and_master_data_problem_is_listed_and_exit_is_1(tmp_path):
    toml = MINIMAL.replace('currency = "EUR"', 'currency = "Euro"') + """
[[stations]]
id = "mix"
kind = "line"
work_center = "WC-MIXER"

[upstream]
sink = "http"
url = "http://erp/gl"
token = "abc123"
"""
    path = _plant(tmp_path, toml)
    boms = tmp_path / "master" / "boms.csv"
    boms.write_text(boms.read_text().replace("FG-WIDGET,RM-BOX,1,0,backflush,30",
                                             "FG-WIDGET,RM-BOX,one,0,backflush,30"))
    result = check(path)
    assert result.returncode == 1
    assert result.stdout == ""
    master = tmp_path / "master"
    assert result.stderr.splitlines() == [
        f"{path}: upstream.token: secrets come from environment variables; use token_env",
        f"{path}: gateway.currency: expected an ISO 4217 code like 'EUR', got 'Euro'",
        f"{path}: stations[0].work_center: unknown work center 'WC-MIXER' "
        "(not in work_centers.csv)",
        f"{master / 'boms.csv'}: row 7: qty_per: expected a number, got 'one'",
        f"{path}: 4 problems; nothing was started",
    ]
    assert "abc123" not in result.stderr


def test_an_unusable_gateway_section_still_reports_the_rest_of_the_file(tmp_path):
    path = _plant(tmp_path, MINIMAL.replace('id = "plant1-line1"\n', "")
                  + '\n[dashboard]\nlisten = "localhost"\n')
    result = check(path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}: gateway.id: missing (required)",
        f"{path}: dashboard.listen: expected host:port like '127.0.0.1:8080', got 'localhost'",
        f"{path}: dashboard.users_file: missing: the dashboard requires a login "
        "(create the file with `gateway user`)",
        f"{path}: 3 problems; nothing was started",
    ]


def test_a_missing_config_file_is_one_problem(tmp_path):
    result = check(tmp_path / "nope.toml")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"{tmp_path / 'nope.toml'}: file not found",
                                          f"{tmp_path / 'nope.toml'}: 1 problem; "
                                          "nothing was started"]
