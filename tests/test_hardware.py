"""The reference build in hardware/ agrees with the firmware and its own numbers.

- wiring.csv and the README pin map match firmware/anklet_fw/boards.py (the reference board);
- bom.csv parses, has positive quantities and prices, and holds every part the README lists;
- power_budget.py meets the 14 h target on the reference cell, fails on an absurdly small one,
  refuses a malformed figures table, and the figures quoted in the docs are its current output.
"""

import csv
import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import pytest

from anklet_fw import boards

ROOT = Path(__file__).resolve().parents[1]
HW = ROOT / "hardware"
SCRIPT = HW / "power_budget.py"
README = HW / "README.md"
SAFETY = HW / "safety.md"

# Seeed Studio XIAO ESP32S3 pads -> ESP32-S3 GPIO (Seeed wiki "Pin Multiplexing"; TinyGo's board
# page lists the same). Kept here, independent of boards.py, so a wrong GPIO in either is caught.
XIAO_ESP32S3_PADS = {
    "D0": 1,
    "D1": 2,
    "D2": 3,
    "D3": 4,
    "D4": 5,
    "D5": 6,
    "D6": 43,
    "D7": 44,
    "D8": 7,
    "D9": 8,
    "D10": 9,
    "LED": 21,
}
# Keys of a board definition that name a wire, a pin or the IMU address.
PIN_KEYS = ("sda", "scl", "imu_int1", "bat_adc", "led", "imu_addr")


def _load_power_budget():
    spec = importlib.util.spec_from_file_location("hardware_power_budget", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up here
    spec.loader.exec_module(mod)
    return mod


pb = _load_power_budget()


def _rows(name):
    with open(HW / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _run(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def _md_table(text, heading):
    """Rows (lists of cell strings) of the first Markdown table after `heading`."""
    start = text.index(heading)
    rows = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                rows.append(cells)
        elif rows:
            break
    return rows[1:]  # drop the header row


def _ohms(value):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kM]?)", value)
    assert m, f"resistor value {value!r} not understood"
    return Fraction(m.group(1)) * {"": 1, "k": 1000, "M": 1000000}[m.group(2)]


# --- pin map ---------------------------------------------------------------------------------


def test_wiring_matches_board_definition():
    board = boards.get(boards.REFERENCE)
    rows = [r for r in _rows("wiring.csv") if r["board_key"]]
    seen = {}
    for r in rows:
        key = r["board_key"]
        assert key in board, f"wiring.csv names {key!r}, which boards.py does not define"
        assert int(r["value"], 0) == board[key], "{}: wiring.csv {}, boards.py {!r}".format(
            key,
            r["value"],
            board[key],
        )
        if r["xiao_pad"]:
            assert XIAO_ESP32S3_PADS[r["xiao_pad"]] == board[key], "{}: pad {} is not GPIO {!r}".format(
                key,
                r["xiao_pad"],
                board[key],
            )
        seen[key] = r
    for key in PIN_KEYS:
        if board.get(key) is not None:
            assert key in seen, f"boards.py {key}={board[key]!r} has no row in wiring.csv"


def test_readme_pin_map_matches_board_definition():
    board = boards.get(boards.REFERENCE)
    table = _md_table(README.read_text(encoding="utf-8"), "## Pin map")
    keys = set()
    for key, _signal, pad, gpio, _to in table:
        key = key.strip("`")
        if not key or key == "-":
            continue
        keys.add(key)
        assert int(gpio, 0) == board[key], f"README pin map {key}={gpio}, boards.py {board[key]!r}"
        if pad and pad != "-":
            assert XIAO_ESP32S3_PADS[pad] == board[key]
    assert {k for k in PIN_KEYS if board.get(k) is not None} <= keys


def test_wiring_parts_are_in_bom():
    refs = {r["ref"] for r in _rows("bom.csv")}
    for r in _rows("wiring.csv"):
        for ref in re.findall(r"\b([A-Z]+\d+)\b", r["to_ref"]):
            assert ref in refs, f"wiring.csv connects to {ref}, missing from bom.csv"


def test_divider_and_parts_match_board_definition():
    board = boards.get(boards.REFERENCE)
    bom = {r["ref"]: r for r in _rows("bom.csv")}
    r_top, r_bottom = _ohms(bom["R1"]["value"]), _ohms(bom["R2"]["value"])
    # Vbat = Vadc * (R1 + R2) / R2
    assert (r_top + r_bottom) / r_bottom == Fraction(board["bat_div_num"], board["bat_div_den"])
    assert bom["U1"]["value"] == boards.REFERENCE
    assert bom["U2"]["value"] == board["imu"]


# --- bill of materials -----------------------------------------------------------------------


def test_bom_parses_with_positive_quantities_and_prices():
    rows = _rows("bom.csv")
    assert len(rows) >= 8
    refs = [r["ref"] for r in rows]
    assert len(refs) == len(set(refs)), "duplicate references in bom.csv"
    for r in rows:
        assert re.fullmatch(r"[A-Z]+\d+", r["ref"]), r["ref"]
        assert r["qty"].isdigit() and int(r["qty"]) > 0, (r["ref"], r["qty"])
        assert float(r["unit_price_usd"]) > 0, (r["ref"], r["unit_price_usd"])
        assert r["description"] and r["mpn"] and r["manufacturer"], r["ref"]


def test_readme_lists_only_bom_parts_and_all_of_them():
    table = _md_table(README.read_text(encoding="utf-8"), "## Parts")
    listed = {row[0] for row in table}
    bom = {r["ref"]: r for r in _rows("bom.csv")}
    assert listed, "README has no parts table"
    assert listed <= set(bom), f"README lists parts missing from bom.csv: {sorted(listed - set(bom))}"
    assert set(bom) <= listed, f"bom.csv parts the README does not list: {sorted(set(bom) - listed)}"
    for row in table:
        assert int(row[1]) == int(bom[row[0]]["qty"]), f"README and bom.csv disagree on {row[0]} quantity"


def test_reference_cell_and_enclosure_match_bom():
    bom = {r["ref"]: r for r in _rows("bom.csv")}
    assert bom["BT1"]["value"] == f"{pb.REFERENCE_CELL['mah']:g}mAh"
    dims = tuple(float(x) for x in bom["ENC1"]["value"].removesuffix("mm").split("x"))
    assert dims == pb.ENCLOSURE_MM


# --- power budget ----------------------------------------------------------------------------


def test_power_script_meets_target_on_reference_cell():
    res = _run("--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    ref = out["results"][0]
    assert ref["scenario"] == "reference" and ref["cell_mah"] == pb.REFERENCE_CELL["mah"]
    assert ref["hours"] >= 14.0 and ref["meets_target"]
    # the numbers hang together
    total = sum(c["average_ma"] for c in ref["consumers"])
    assert total == pytest.approx(ref["average_ma"])
    assert ref["hours"] == pytest.approx(ref["usable_mah"] / ref["average_ma"])


def test_power_script_covers_required_consumers():
    figs = pb.load_figures()
    text = " ".join(f"{f.consumer} {f.part} {f.mode}" for f in figs).lower()
    for needle in (
        "lsm6ds3tr-c",
        "low-power mode",
        "52 hz",
        "fifo",
        "light-sleep",
        "connection interval",
        "radio bursts",
    ):
        assert needle in text, f"power_figures.csv has no row about {needle!r}"
    for f in figs:
        assert f.source and f.part, f.line


def test_power_script_fails_for_an_absurdly_small_cell():
    res = _run("--cell-mah", "50")
    assert res.returncode == 1
    assert "under the 14.0 h target" in res.stderr
    res = _run("--cell-mah", "50", "--json")
    assert res.returncode == 1
    assert json.loads(res.stdout)["results"][0]["meets_target"] is False


def test_power_script_all_scenarios_and_target_option():
    res = _run("--scenario", "all", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    names = [r["scenario"] for r in out["results"]]
    assert names[0] == "reference" and {"mpy_160mhz", "auto_light_sleep"} <= set(names)
    by = {r["scenario"]: r for r in out["results"]}
    # the model must rank them the way the physics does
    assert (
        by["auto_light_sleep"]["average_ma"] < by["reference"]["average_ma"] < by["mpy_160mhz"]["average_ma"]
    )
    # a target beyond what the reference cell gives makes it fail
    assert _run("--target-hours", "%.1f" % (by["reference"]["hours"] + 1)).returncode == 1


def test_power_script_rejects_bad_figures(tmp_path):
    header = ",".join(pb.COLUMNS)
    first = _rows("power_figures.csv")[0]
    first["source"] = ""
    buf = io.StringIO()
    csv.DictWriter(buf, fieldnames=pb.COLUMNS, lineterminator="").writerow(first)
    cases = {
        "no source": buf.getvalue(),
        "duty > 1": "*,x,part,mode,1.0,1.5,,,datasheet,src,",
        "both duty and on-time": "*,x,part,mode,1.0,0.5,1,10,datasheet,src,",
        "not a number": "*,x,part,mode,lots,1,,,datasheet,src,",
        "no duty": "*,x,part,mode,1.0,,,,datasheet,src,",
    }
    for name, row in cases.items():
        path = tmp_path / ("{}.csv".format(name.replace(" ", "_")))
        path.write_text(header + "\n" + row + "\n", encoding="utf-8")
        res = _run("--figures", str(path), "--scenario", "reference")
        assert res.returncode == 2, (name, res.stdout, res.stderr)
        assert "error" in res.stderr and path.name in res.stderr, (name, res.stderr)
    assert _run("--scenario", "no_such_scenario").returncode == 2


def test_duty_from_on_time_and_period(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(
        ",".join(pb.COLUMNS)
        + "\n"
        + "*,radio,part,RX,100,,2,1000,datasheet,src,\n*,base,part,idle,10,1,,,datasheet,src,\n",
        encoding="utf-8",
    )
    figs = pb.load_figures(path)
    assert figs[0].duty == pytest.approx(0.002)
    # with only "*" rows there is no named scenario: the script says so instead of guessing
    with pytest.raises(pb.FiguresError):
        pb.budget(figs, "reference")
    path.write_text(path.read_text(encoding="utf-8").replace("*,base", "reference,base"), encoding="utf-8")
    r = pb.budget(pb.load_figures(path), "reference", cell_mah=100, usable_fraction=1.0)
    assert r["average_ma"] == pytest.approx(100 * 0.002 + 10)
    assert r["hours"] == pytest.approx(100 / 10.2)


def test_docs_quote_the_current_script_output():
    blocks = pb.markdown_blocks(pb.load_figures())
    readme, safety = README.read_text(encoding="utf-8"), SAFETY.read_text(encoding="utf-8")
    assert pb.extract_block(readme, "power") == blocks["power"], (
        "README power block is stale: run --update-docs"
    )
    assert pb.extract_block(safety, "thermal") == blocks["thermal"], "safety.md thermal block is stale"


# --- enclosure model -------------------------------------------------------------------------

SCAD = HW / "enclosure" / "anklet_pod.scad"


def _openscad():
    exe = shutil.which("openscad")
    if exe is None:
        warnings.warn("openscad is not installed: the enclosure model is not checked", stacklevel=2)
        pytest.skip(
            "SKIPPED LOUDLY: openscad is not installed, so the enclosure model was not checked (apt-get install openscad)"
        )
    return exe


def _stl_bbox(path):
    pts = [tuple(map(float, m)) for m in re.findall(r"vertex\s+(\S+)\s+(\S+)\s+(\S+)", path.read_text())]
    assert pts, "empty STL"
    return [(min(p[i] for p in pts), max(p[i] for p in pts)) for i in range(3)]


def test_enclosure_model_renders_at_the_budgeted_size(tmp_path):
    exe = _openscad()
    out = tmp_path / "pod.stl"
    res = subprocess.run(
        [exe, "-q", "-o", str(out), "-D", 'part="assembled"', "-D", "$fn=12", str(SCAD)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    bbox = _stl_bbox(out)
    for (lo, hi), size in zip(bbox, pb.ENCLOSURE_MM, strict=True):
        assert lo == pytest.approx(0, abs=0.3) and hi == pytest.approx(size, abs=0.3), (bbox, pb.ENCLOSURE_MM)


def test_enclosure_model_refuses_a_shell_too_small_for_the_parts(tmp_path):
    exe = _openscad()
    res = subprocess.run(
        [exe, "-q", "-o", str(tmp_path / "x.stl"), "-D", "outer=[44,36,13]", "-D", "$fn=8", str(SCAD)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode != 0 and "does not fit" in res.stderr, res.stderr
