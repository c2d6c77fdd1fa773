"""The trade-off curve: the real-recording table and simulated nights at several score thresholds.

    python -m anklet.tradeoff [--nights N]   (docs/detector.md, "Choosing the threshold", quotes it)
"""

from __future__ import annotations

import argparse

from . import bench, realdata
from .records import AlarmDecision, DeviceEvent
from .replay import decide


def sim_figures(results: list[bench.NightResult], quiet: list[bench.NightResult], params: dict) -> tuple[str, str]:
    hits = total = 0
    for r in results:
        evs = [DeviceEvent.from_record(x) for x in _records(r, params)]
        r2 = bench.NightResult(r.truth, evs, [i for i in decide(evs) if isinstance(i, AlarmDecision)], r.hours, 0)
        for _, a in bench.match(r2):
            total += 1
            hits += a is not None
    fa = 0
    hours = 0.0
    for r in quiet:
        evs = [DeviceEvent.from_record(x) for x in _records(r, params)]
        fa += sum(1 for i in decide(evs) if isinstance(i, AlarmDecision) and i.level == "alarm")
        hours += r.hours
    return f"{hits}/{total}", f"{10 * fa / hours:.3f}"


def _records(r: bench.NightResult, params: dict):
    from . import twin

    assert r.counts is not None
    return twin.decide(twin.features(r.counts, bench.FS, bench.RANGE_G), bench.FS, params)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="anklet-tradeoff")
    ap.add_argument("--nights", type=int, default=6, help="8 h seizure-free nights (and 4x as many 1 h seizure nights)")
    ap.add_argument("--thresholds", default="-512,-256,0,256,512,768")
    args = ap.parse_args(argv)
    recs = realdata.load()
    sz = [bench.run_night(bench.simulate.night(2026 + i, 1.0, 3), keep=True) for i in range(4 * args.nights)]
    quiet = [bench.run_night(bench.simulate.night(12026 + i, 8.0, 0), keep=True) for i in range(args.nights)]
    names = [g for g, _ in realdata.GROUPS]
    print("| score_min | " + " | ".join(names) + " | simulated episodes >= 25 s | simulated false alarms / 10 h |")
    print("|---" * (len(names) + 3) + "|")
    for thr in (int(x) for x in args.thresholds.split(",")):
        params = {"score_min": thr}
        res = {"a": [realdata.anklet_alarms(r, params=params) for r in recs]}
        cells = [row.split("|")[2].strip() for row in realdata.table(recs, res)[2:]]
        sens, fa = sim_figures(sz, quiet, params)
        print(f"| {thr} | " + " | ".join(cells) + f" | {sens} | {fa} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
