"""The real-recording development set (../shared/realdata): load it, replay it, score it per group.

Scoring follows the set's README: a `should_alarm: true` trace is caught when an ALARM falls inside its
`rhythmic_span_s` (or up to 10 s after); any ALARM on a `should_alarm: false` trace is a false alarm;
`should_alarm: null` traces (seizures whose rhythmic shaking is not annotated) are counted, not scored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import osd_peer, trace, twin
from .records import AlarmDecision, DeviceEvent
from .replay import decide

FS = 50
RANGE_G = 8
LATE_S = 10.0  # an ALARM this long after the span still counts (the README's rule)

# (row name, predicate on an index entry): the rows of the per-group table.
GROUPS: list[tuple[str, Callable[[dict], bool]]] = [
    ("real tonic-clonic seizures (OSDB)", lambda e: e["group"] == "seizure_real_tc"),
    ("other real seizures (OSDB, not scored)", lambda e: e["group"] == "seizure_real_other"),
    ("mimicked seizures (UEA)", lambda e: e["group"] == "simulated_seizure"),
    ("running and sawing (UEA)", lambda e: e["group"] == "benign_rhythmic" and e["source"] == "uea_epilepsy"),
    ("walking (UEA)", lambda e: e["group"] == "walking"),
    ("real OSD false-alarm events (OSDB)", lambda e: e["group"] == "false_alarm_real"),
    ("shoulder-exercise sets (seglearn)", lambda e: e["source"] == "seglearn_watch"),
]


def default_root() -> Path:
    env = os.environ.get("ANKLET_REALDATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for up in here.parents:
        cand = up / "shared" / "realdata"
        if (cand / "index.json").exists():
            return cand
        cand = up.parent / "shared" / "realdata"
        if (cand / "index.json").exists():
            return cand
    return Path("../shared/realdata")


@dataclass
class Recording:
    entry: dict
    trace: trace.Trace
    counts: np.ndarray  # at FS, RANGE_G

    @property
    def name(self) -> str:
        return str(self.entry["file"])

    @property
    def span(self) -> tuple[float, float] | None:
        s = self.entry.get("rhythmic_span_s")
        return (float(s[0]), float(s[1])) if s else None


def load(root: Path | None = None) -> list[Recording]:
    root = root or default_root()
    index = json.loads((root / "index.json").read_text())
    out = []
    for e in index:
        tr = trace.read(root / e["file"])
        out.append(Recording(e, tr, trace.to_counts(tr, FS, RANGE_G)))
    return out


def alarm_times(alarms: list[AlarmDecision]) -> list[float]:
    return [a.t for a in alarms if a.level == "alarm"]


def caught(rec: Recording, times: list[float]) -> bool:
    """An alarm counts for a seizure inside its span (or LATE_S after); for anything else, anywhere."""
    if rec.entry["should_alarm"] and rec.span:
        a, b = rec.span
        return any(a <= t <= b + LATE_S for t in times)
    return bool(times)


def anklet_alarms(rec: Recording, alarm_s: float = 20, params: dict | None = None,
                  model: object = None) -> list[float]:
    recs = twin.decide(twin.features(rec.counts, FS, RANGE_G), FS, params, model)
    items = decide([DeviceEvent.from_record(r) for r in recs], alarm_s)
    return alarm_times([i for i in items if isinstance(i, AlarmDecision)])


def table(recs: list[Recording], results: dict[str, list[list[float]]]) -> list[str]:
    """Rows: group, then 'k/n' per detector (ALARM raised, inside the span for seizures)."""
    names = list(results)
    lines = [f"| recordings | {' | '.join(names)} |", "|---|" + "---|" * len(names)]
    for label, pred in GROUPS:
        idx = [i for i, r in enumerate(recs) if pred(r.entry)]
        if not idx:
            continue
        cells = []
        for n in names:
            k = sum(caught(recs[i], results[n][i]) for i in idx)
            cells.append(f"{k}/{len(idx)}")
        lines.append(f"| {label} | {' | '.join(cells)} |")
    return lines


def osd_alarms(rec: Recording, settings: osd_peer.OsdSettings = osd_peer.DEFAULT) -> list[float]:
    return osd_peer.run_trace(rec.trace, settings)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="anklet-realdata", description="per-group ALARM counts on the real recordings")
    ap.add_argument("--root", type=Path, default=None)
    ap.add_argument("--list", action="store_true", help="one line per recording")
    args = ap.parse_args(argv)
    recs = load(args.root)
    results = {
        "anklet": [anklet_alarms(r) for r in recs],
        "OSD default": [osd_alarms(r) for r in recs],
        "OSD at 1-8 Hz": [osd_alarms(r, osd_peer.WIDE) for r in recs],
    }
    if args.list:
        for i, r in enumerate(recs):
            cells = " ".join(f"{n}={'Y' if caught(r, results[n][i]) else '.'}" for n in results)
            print(f"{r.entry['group']:<20} {r.name:<60} {cells}  anklet at {results['anklet'][i]}")
    print("\n".join(table(recs, results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
