#!/usr/bin/env python3
"""Power budget of the anklet reference band, computed from a table of datasheet figures.

Reads hardware/power_figures.csv: one row per consumer (part, mode, current in mA, duty cycle
or on-time per period, where the figure comes from and whether it is an estimate). Rows belong to
one or more scenarios ("*" = every scenario):

  reference         stock MicroPython, CPU at 80 MHz, BLE connected at a 1 s interval, TX 0 dBm,
                    no light sleep (MicroPython cannot light-sleep with BLE connected).
  mpy_160mhz        the same with MicroPython's default 160 MHz clock.
  auto_light_sleep  a future MicroPython build with ESP-IDF automatic light sleep.

Prints a table and the hours on the cell, or JSON with --json. Exit status: 0 when the gated
scenario (the one chosen, or "reference" with --scenario all) lasts at least --target-hours,
1 when it does not, 2 when the input is wrong.

  python hardware/power_budget.py                      # reference scenario on the reference cell
  python hardware/power_budget.py --scenario all
  python hardware/power_budget.py --cell-mah 50        # an absurdly small cell: exits 1
  python hardware/power_budget.py --update-docs        # rewrite the generated blocks in the docs
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "power_figures.csv"
DOCS = (HERE / "README.md", HERE / "safety.md")

REFERENCE_SCENARIO = "reference"
TARGET_HOURS = 14.0

# The reference cell (bom.csv, BT1): Adafruit PID 1578, 3.7 V 500 mAh LiPo with protection circuit.
REFERENCE_CELL = {"name": "3.7 V 500 mAh LiPo with protection circuit (Adafruit PID 1578)", "mah": 500.0}
# Share of the rated capacity the band can use: the XIAO's 3.3 V regulator drops out and the
# firmware must raise its battery-low FAULT while some charge is left, so the budget stops at about
# 3.4 V, where a LiPo has given roughly 90 % of its charge (estimate from typical LiPo discharge
# curves at 0.2 C or less).
USABLE_FRACTION = 0.90
# A LiPo is usually declared worn at 80 % of its rated capacity; printed for information.
AGED_FRACTION = 0.80
NOMINAL_CELL_V = 3.7

# Enclosure outer size (README, "Enclosure") and a still-air heat transfer coefficient
# (natural convection plus radiation, estimate) for the steady-state temperature rise.
ENCLOSURE_MM = (44.0, 36.0, 16.0)
H_W_PER_M2K = 10.0
# Fault case for the temperature check: firmware stuck with both cores busy at 240 MHz and all
# peripheral clocks on (ESP32-S3 Series Datasheet v2.2, Table 5-9: 107.9 mA), radio idle.
FAULT_MA = 107.9
FAULT_SOURCE = "ESP32-S3 Series Datasheet v2.2, Table 5-9: 240 MHz, dual core running 128-bit, all clocks on"
# Charging: the XIAO charges at 100 mA (Seeed wiki, XIAO ESP32S3 specification) from 5 V USB, with
# a linear charger (assumed): what USB delivers minus what the cell stores stays in the pod as heat.
CHARGE_MA = 100.0
USB_V = 5.0
SKIN_LIMIT_C = 43.0  # IEC 60601-1 limit for applied parts in skin contact for 10 min or more
SKIN_C = 35.0  # skin temperature under a sock, approximate

COLUMNS = (
    "scenarios",
    "consumer",
    "part",
    "mode",
    "current_ma",
    "duty",
    "on_ms",
    "period_ms",
    "basis",
    "source",
    "note",
)


class FiguresError(ValueError):
    """The figures table is malformed; the message names the file, row and column."""


@dataclass(frozen=True)
class Figure:
    line: int
    scenarios: tuple[str, ...]  # ("*",) = every scenario
    consumer: str
    part: str
    mode: str
    current_ma: float
    duty: float
    basis: str
    source: str
    note: str

    @property
    def average_ma(self) -> float:
        return self.current_ma * self.duty

    @property
    def estimate(self) -> bool:
        """True when the figure is an estimate or was measured under conditions not stated."""
        return "estimate" in self.basis or "unverified" in self.basis

    def applies(self, scenario: str) -> bool:
        return "*" in self.scenarios or scenario in self.scenarios


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FiguresError(f"{where}: {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise FiguresError(f"{where}: {text!r} is not a finite number")
    return value


def load_figures(path: Path = FIGURES) -> list[Figure]:
    """Read and validate the figures table."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FiguresError(f"cannot read {path}: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise FiguresError("{}: missing columns {}".format(path, ", ".join(missing)))
    figures = []
    for line, row in enumerate(reader, start=2):
        where = f"{Path(path).name} line {line}"
        scenarios = tuple((row["scenarios"] or "").split())
        if not scenarios:
            raise FiguresError(f"{where}: empty scenarios (use * for every scenario)")
        for col in ("consumer", "part", "mode", "basis", "source"):
            if not (row[col] or "").strip():
                raise FiguresError(f"{where}: empty {col} (every figure needs its part, mode and source)")
        current = _number(row["current_ma"], where + " current_ma")
        if current < 0:
            raise FiguresError(f"{where}: current_ma {current:g} is negative")
        duty_text, on_text, period_text = (
            (row["duty"] or "").strip(),
            (row["on_ms"] or "").strip(),
            (row["period_ms"] or "").strip(),
        )
        if duty_text and (on_text or period_text):
            raise FiguresError(f"{where}: give either duty or on_ms/period_ms, not both")
        if duty_text:
            duty = _number(duty_text, where + " duty")
        elif on_text and period_text:
            on_ms = _number(on_text, where + " on_ms")
            period_ms = _number(period_text, where + " period_ms")
            if period_ms <= 0 or on_ms < 0:
                raise FiguresError(f"{where}: on_ms must be >= 0 and period_ms > 0")
            duty = on_ms / period_ms
        else:
            raise FiguresError(f"{where}: no duty cycle (give duty, or on_ms and period_ms)")
        if not 0.0 <= duty <= 1.0:
            raise FiguresError(f"{where}: duty {duty:g} is outside 0..1")
        figures.append(
            Figure(
                line=line,
                scenarios=scenarios,
                consumer=row["consumer"].strip(),
                part=row["part"].strip(),
                mode=row["mode"].strip(),
                current_ma=current,
                duty=duty,
                basis=row["basis"].strip(),
                source=row["source"].strip(),
                note=(row["note"] or "").strip(),
            )
        )
    if not figures:
        raise FiguresError(f"{path}: no figures")
    return figures


def scenarios_of(figures: list[Figure]) -> list[str]:
    """Scenario names in order of first appearance (REFERENCE_SCENARIO first)."""
    names: list[str] = []
    for fig in figures:
        for name in fig.scenarios:
            if name != "*" and name not in names:
                names.append(name)
    if REFERENCE_SCENARIO in names:
        names.remove(REFERENCE_SCENARIO)
        names.insert(0, REFERENCE_SCENARIO)
    return names


def enclosure_area_m2(dims_mm: tuple[float, float, float] = ENCLOSURE_MM) -> float:
    a, b, c = dims_mm
    return 2.0 * (a * b + a * c + b * c) * 1e-6


def temperature_rise_k(current_ma: float) -> float:
    """Steady-state rise of the enclosure surface over its surroundings (lumped, still air)."""
    power_w = current_ma * 1e-3 * NOMINAL_CELL_V
    return power_w / (H_W_PER_M2K * enclosure_area_m2())


def budget(
    figures: list[Figure],
    scenario: str = REFERENCE_SCENARIO,
    cell_mah: float = REFERENCE_CELL["mah"],
    usable_fraction: float = USABLE_FRACTION,
    target_hours: float = TARGET_HOURS,
) -> dict:
    """Average current, hours on the cell and the temperature rise for one scenario."""
    known = scenarios_of(figures)
    if scenario not in known:
        raise FiguresError("unknown scenario {!r} (known: {})".format(scenario, ", ".join(known)))
    if cell_mah <= 0:
        raise FiguresError(f"cell capacity must be positive, not {cell_mah:g} mAh")
    if not 0.0 < usable_fraction <= 1.0:
        raise FiguresError(f"usable fraction must be in (0, 1], not {usable_fraction:g}")
    rows = [f for f in figures if f.applies(scenario)]
    total = sum(f.average_ma for f in rows)
    estimated = sum(f.average_ma for f in rows if f.estimate)
    usable = cell_mah * usable_fraction
    hours = usable / total if total > 0 else float("inf")
    return {
        "scenario": scenario,
        "cell_mah": cell_mah,
        "usable_fraction": usable_fraction,
        "usable_mah": usable,
        "average_ma": total,
        "average_ma_from_estimates": estimated,
        "hours": hours,
        "hours_aged_cell": hours * AGED_FRACTION,
        "max_average_ma_for_target": usable / target_hours,
        "aged_fraction": AGED_FRACTION,
        "target_hours": target_hours,
        "meets_target": hours >= target_hours,
        "temperature_rise_k": temperature_rise_k(total),
        "consumers": [
            {
                "consumer": f.consumer,
                "scenarios": list(f.scenarios),
                "part": f.part,
                "mode": f.mode,
                "current_ma": f.current_ma,
                "duty": f.duty,
                "average_ma": f.average_ma,
                "share": f.average_ma / total if total > 0 else 0.0,
                "basis": f.basis,
                "estimate": f.estimate,
                "source": f.source,
                "note": f.note,
                "line": f.line,
            }
            for f in rows
        ],
    }


def charging_power_w(band_ma: float) -> float:
    """Heat in the pod while charging: USB input (cell charge + band) minus what the cell stores."""
    return USB_V * (CHARGE_MA + band_ma) * 1e-3 - NOMINAL_CELL_V * CHARGE_MA * 1e-3


def thermal() -> dict:
    """Temperature figures for the safety notes: normal use versus a firmware fault."""
    return {
        "charge_ma": CHARGE_MA,
        "usb_v": USB_V,
        "enclosure_mm": list(ENCLOSURE_MM),
        "area_cm2": enclosure_area_m2() * 1e4,
        "h_w_per_m2k": H_W_PER_M2K,
        "fault_ma": FAULT_MA,
        "fault_source": FAULT_SOURCE,
        "fault_power_w": FAULT_MA * 1e-3 * NOMINAL_CELL_V,
        "fault_rise_k": temperature_rise_k(FAULT_MA),
        "skin_c": SKIN_C,
        "limit_c": SKIN_LIMIT_C,
    }


# ---------------------------------------------------------------------------------------------
# Output


def format_table(result: dict) -> str:
    out = []
    out.append("scenario {}".format(result["scenario"]))
    out.append(f"{'consumer':<62} {'I (mA)':>9} {'duty':>8} {'avg (mA)':>10}  basis")
    for c in sorted(result["consumers"], key=lambda c: -c["average_ma"]):
        out.append(
            f"{c['consumer'][:62]:<62} {c['current_ma']:9.3f} {c['duty']:8.5f} {c['average_ma']:10.4f}  {c['basis']}"
        )
    out.append(f"{'total':<62} {'':>9} {'':>8} {result['average_ma']:10.3f}")
    out.append(
        "of which from estimates or unverified conditions: {:.3f} mA ({:.0f} %)".format(
            result["average_ma_from_estimates"],
            100.0 * result["average_ma_from_estimates"] / result["average_ma"],
        )
    )
    out.append(
        "cell {:.0f} mAh, usable {:.0f} % = {:.0f} mAh -> {:.1f} h (target {:.1f} h: {}); aged cell ({:.0f} %): {:.1f} h".format(
            result["cell_mah"],
            100 * result["usable_fraction"],
            result["usable_mah"],
            result["hours"],
            result["target_hours"],
            "MET" if result["meets_target"] else "NOT MET",
            100 * result["aged_fraction"],
            result["hours_aged_cell"],
        )
    )
    out.append(
        "the target allows at most {:.1f} mA on average: measure the built band against that (README, step 9)".format(
            result["max_average_ma_for_target"]
        )
    )
    out.append("enclosure surface rise over surroundings: {:.1f} K".format(result["temperature_rise_k"]))
    return "\n".join(out)


def _md_hours(h: float) -> str:
    return f"{h:.1f}"


def markdown_blocks(figures: list[Figure]) -> dict[str, str]:
    """The generated blocks that README.md and safety.md carry (see --update-docs)."""
    results = [budget(figures, s) for s in scenarios_of(figures)]
    ref = results[0]
    cell = REFERENCE_CELL
    lines = [
        "Generated by `python hardware/power_budget.py --update-docs` from `hardware/power_figures.csv`;"
        " do not edit by hand.",
        "",
        "Cell: {}, usable {:.0f} % = {:.0f} mAh. Target: {:.0f} h.".format(
            cell["name"], 100 * USABLE_FRACTION, cell["mah"] * USABLE_FRACTION, TARGET_HOURS
        ),
        "",
        "The target allows at most {:.1f} mA on average (usable charge / {:.0f} h).".format(
            cell["mah"] * USABLE_FRACTION / TARGET_HOURS, TARGET_HOURS
        ),
        "",
        "| scenario | average current (mA) | of which estimated or unverified (mA) | hours"
        f" | hours on an aged cell ({100 * AGED_FRACTION:.0f} %) | meets {TARGET_HOURS:.0f} h |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            "| {} | {:.2f} | {:.2f} | {} | {} | {} |".format(
                r["scenario"],
                r["average_ma"],
                r["average_ma_from_estimates"],
                _md_hours(r["hours"]),
                _md_hours(r["hours_aged_cell"]),
                "yes" if r["meets_target"] else "no",
            )
        )
    lines += [
        "",
        "Reference scenario, by consumer:",
        "",
        "| consumer | mode | current (mA) | duty | average (mA) | basis |",
        "|---|---|---:|---:|---:|---|",
    ]
    for c in sorted(ref["consumers"], key=lambda c: -c["average_ma"]):
        lines.append(
            "| {} | {} | {:g} | {:.4g} | {:.4f} | {} |".format(
                c["consumer"], c["mode"], c["current_ma"], c["duty"], c["average_ma"], c["basis"]
            )
        )
    lines += ["", "Where each figure comes from (every scenario's rows are in `power_figures.csv`):", ""]
    seen = set()
    for r in results:
        for c in r["consumers"]:
            if c["line"] in seen:
                continue
            seen.add(c["line"])
            note = f" {c['note']}" if c["note"] else ""
            where = "every scenario" if "*" in c["scenarios"] else ", ".join(c["scenarios"])
            lines.append(f"- **{c['consumer']}** ({where}): {c['source']}.{note}")
    power = "\n".join(lines)

    th = thermal()
    t_lines = [
        "Generated by `python hardware/power_budget.py --update-docs`; do not edit by hand.",
        "",
        "Lumped estimate: enclosure {:g} x {:g} x {:g} mm ({:.0f} cm2), still air, h = {:g} W/(m2 K) (estimate),"
        " all electrical power turned into heat in the pod.".format(
            *th["enclosure_mm"], th["area_cm2"], th["h_w_per_m2k"]
        ),
        "",
        "| case | current (mA) | power (W) | surface rise over surroundings (K) |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        t_lines.append(
            "| {} scenario | {:.1f} | {:.3f} | {:.1f} |".format(
                r["scenario"],
                r["average_ma"],
                r["average_ma"] * 1e-3 * NOMINAL_CELL_V,
                r["temperature_rise_k"],
            )
        )
    p_charge = charging_power_w(ref["average_ma"])
    t_lines.append(
        f"| charging at {CHARGE_MA:.0f} mA from {USB_V:g} V USB while running (must happen off the baby)"
        f" | {CHARGE_MA + ref['average_ma']:.1f} from USB | {p_charge:.3f}"
        f" | {p_charge / (H_W_PER_M2K * enclosure_area_m2()):.1f} |"
    )
    t_lines.append(
        "| firmware fault: {} | {:.1f} | {:.3f} | {:.1f} |".format(
            th["fault_source"], th["fault_ma"], th["fault_power_w"], th["fault_rise_k"]
        )
    )
    t_lines += [
        "",
        "Taking skin (about {:.0f} C) as the surroundings, which is pessimistic for the side facing the room,"
        " the fault case would put the pod surface near {:.0f} C (limit {:.0f} C), before any bedding insulates"
        " it further.".format(th["skin_c"], th["skin_c"] + th["fault_rise_k"], th["limit_c"]),
    ]
    return {"power": power, "thermal": "\n".join(t_lines)}


def _markers(name: str) -> tuple[str, str]:
    return (f"<!-- generated:{name} begin -->", f"<!-- generated:{name} end -->")


def extract_block(text: str, name: str) -> str | None:
    begin, end = _markers(name)
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        return None
    return text[i + len(begin) : j].strip("\n")


def update_docs(figures: list[Figure], paths=DOCS) -> list[Path]:
    """Rewrite every generated block found in the docs; return the files changed."""
    blocks = markdown_blocks(figures)
    changed = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            continue
        text = original = path.read_text(encoding="utf-8")
        for name, body in blocks.items():
            begin, end = _markers(name)
            i, j = text.find(begin), text.find(end)
            if i < 0 or j < i:
                continue
            text = text[: i + len(begin)] + "\n" + body + "\n" + text[j:]
        if text != original:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Power budget of the anklet band from hardware/power_figures.csv")
    p.add_argument("--figures", type=Path, default=FIGURES, help="figures table (default: %(default)s)")
    p.add_argument(
        "--scenario",
        default=REFERENCE_SCENARIO,
        help="scenario to compute, or 'all' (default: %(default)s)",
    )
    p.add_argument(
        "--cell-mah",
        type=float,
        default=REFERENCE_CELL["mah"],
        help="rated cell capacity in mAh (default: the reference cell, %(default)g)",
    )
    p.add_argument(
        "--usable-fraction",
        type=float,
        default=USABLE_FRACTION,
        help="share of the rated capacity the band can use (default: %(default)g)",
    )
    p.add_argument(
        "--target-hours", type=float, default=TARGET_HOURS, help="required hours (default: %(default)g)"
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON instead of a table")
    out.add_argument("--markdown", action="store_true", help="print the generated documentation blocks")
    out.add_argument(
        "--update-docs", action="store_true", help="rewrite the generated blocks in README.md and safety.md"
    )
    args = p.parse_args(argv)

    try:
        figures = load_figures(args.figures)
        if args.markdown:
            for name, body in markdown_blocks(figures).items():
                print(f"{_markers(name)[0]}\n{body}\n{_markers(name)[1]}\n")
            return 0
        if args.update_docs:
            for path in update_docs(figures):
                print(f"updated {path}")
            return 0
        names = scenarios_of(figures) if args.scenario == "all" else [args.scenario]
        results = [
            budget(
                figures,
                s,
                cell_mah=args.cell_mah,
                usable_fraction=args.usable_fraction,
                target_hours=args.target_hours,
            )
            for s in names
        ]
    except FiguresError as exc:
        print(f"power_budget: error: {exc}", file=sys.stderr)
        return 2

    gate = results[0]  # the chosen scenario, or the reference one with --scenario all
    if args.json:
        print(json.dumps({"gate": gate["scenario"], "thermal": thermal(), "results": results}, indent=2))
    else:
        print("\n\n".join(format_table(r) for r in results))
    if not gate["meets_target"]:
        print(
            "power_budget: {} lasts {:.1f} h on {:.0f} mAh, under the {:.1f} h target".format(
                gate["scenario"], gate["hours"], gate["cell_mah"], gate["target_hours"]
            ),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
