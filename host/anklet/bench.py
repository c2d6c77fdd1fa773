"""`make bench`: the detector's figures from a fixed seed, printed (not asserted).

Sensitivity for simulated clonic episodes of 25 s or longer, false alarms per 10 h
over seizure-free nights, alarm latency from the true onset, frequency accuracy,
each engine's replay speed, and the band's CPU time and heap under MicroPython.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import time
from dataclasses import dataclass

import numpy as np

from . import bench_32bit, engines, realdata, simulate, trace, twin
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
    model_s: float  # seconds the numpy twin took
    counts: np.ndarray | None = None
    not_worn: int = 0  # "not worn" FAULTs the band's wear decision would have raised


def run_night(nt: simulate.Night, alarm_s: float = 20, keep: bool = False) -> NightResult:
    t, acc = nt.signal()
    counts = trace.to_counts(trace.Trace(t, acc), FS, RANGE_G)
    t0 = time.perf_counter()
    feat = twin.features(counts, FS, RANGE_G)
    events = [DeviceEvent.from_record(r) for r in twin.decide(feat, FS)]
    model_s = time.perf_counter() - t0
    items = list(decide(events, alarm_s))
    alarms = [i for i in items if isinstance(i, AlarmDecision)]
    not_worn = len(twin.not_worn_times(feat, FS, RANGE_G))
    return NightResult(nt.truth, events, alarms, nt.hours, model_s, counts if keep else None, not_worn)


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
    return [run_night(simulate.night(seed + i, hours, 0), keep=i == 0) for i in range(n)]


def frequency_errors(results: list[NightResult]) -> np.ndarray:
    errs = []
    for r in results:
        for ep, a in match(r):
            end = a and next((e for e in r.events if e.kind == "end" and e.fields["onset_ms"] == a.onset_ms), None)
            if end is not None:
                errs.append(end.fields["freq_chz"] / 100 - ep.params["freq_mean"])
    return np.abs(np.array(errs))


def engine_speeds(counts: np.ndarray) -> None:
    seconds = len(counts) / FS
    hour = counts[: 3600 * FS]
    t0 = time.perf_counter()
    engines.run_firmware(hour, FS, RANGE_G)
    fw = time.perf_counter() - t0
    print(f"firmware code under CPython: {len(hour) / FS / fw:,.0f} x real time (1 h of a quiet night)")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    engines.run_micropython(counts, FS, RANGE_G)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"firmware code under micropython: {seconds / wall:,.0f} x real time over {seconds / 3600:.0f} h, "
          f"{1e6 * cpu / seconds:.0f} us CPU per second of signal (unix port, this machine)")


def heap_figures(counts: np.ndarray) -> None:
    diag: dict = {}
    engines.run_micropython(counts, FS, RANGE_G, locked=True, diag=diag)
    print(f"heap under micropython: {diag['mem_after'] - diag['mem_before']} bytes allocated while processing "
          f"{len(counts) / FS:.0f} s under heap_lock (any allocation would have raised)")
    code = ("import gc\nfrom anklet_fw.detector import Detector\nDetector(50)\n"
            "for fs in (25, 50, 52, 104):\n gc.collect()\n a = gc.mem_alloc()\n d = Detector(fs)\n"
            " gc.collect()\n print(fs, gc.mem_alloc() - a)\n del d")
    env = dict(os.environ, MICROPYPATH=f"{engines.FIRMWARE_DIR}:.frozen")
    out = subprocess.run([engines.micropython_binary(), "-c", code], capture_output=True, text=True, env=env)
    sizes = ", ".join(f"{fs} Hz: {b} B" for fs, b in (line.split() for line in out.stdout.splitlines()))
    print(f"detector state on the heap: {sizes}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="anklet-bench")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--seizure-nights", type=int, default=60)
    ap.add_argument("--quiet-nights", type=int, default=26)
    ap.add_argument("--quick", action="store_true", help="fewer nights, for a look")
    args = ap.parse_args(argv)
    if args.quick:
        args.seizure_nights, args.quiet_nights = 10, 2
    print("real recordings (../shared/realdata; ALARM raised, inside the seizure span for seizures):")
    recs = realdata.load()
    table = {"anklet": [realdata.anklet_alarms(r) for r in recs],
             "OSD default": [realdata.osd_alarms(r) for r in recs],
             "OSD at 1-8 Hz": [realdata.osd_alarms(r, realdata.osd_peer.WIDE) for r in recs]}
    print("\n".join(realdata.table(recs, table)))
    print(f"\nsimulated nights (simulated figures are never proof): seed {args.seed}, {FS} Hz, +-{RANGE_G} g, "
          "alarm at 20 s")
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
    ferr = frequency_errors(sz)
    if len(ferr):
        print(f"frequency error (episode mean vs truth): median {np.median(ferr):.3f} Hz, "
              f"95th percentile {np.percentile(ferr, 95):.3f} Hz, worst {ferr.max():.3f} Hz")
    fq = quiet_nights(args.quiet_nights, args.seed + 10000)
    hours = sum(r.hours for r in fq)
    fa = [(i, a) for i, r in enumerate(fq) for a in r.alarms if a.level == "alarm"]
    notices = sum(1 for r in fq for a in r.alarms if a.level == "notice")
    faults = sum(r.not_worn for r in fq) + sum(r.not_worn for r in sz)
    sz_hours = sum(r.hours for r in sz)
    print(f"false alarms: {len(fa)} ALARMs + {sum(r.not_worn for r in fq)} FAULTs in {hours:.0f} h = "
          f"{10 * (len(fa) + sum(r.not_worn for r in fq)) / hours:.3f} per 10 h (notices: {notices}; FAULTs "
          "counted: the band's 'not worn'; 'no data' needs a link and none is simulated here)")
    print(f"'not worn' FAULTs over all {hours + sz_hours:.0f} h of worn simulated nights: {faults}")
    for i, a in fa:
        near = [x for x in fq[i].truth if x.start - 30 <= a.onset_ms / 1000 <= x.end + 30]
        print(f"  night {i} at {a.t:.0f} s: {[(x.type, round(x.end - x.start)) for x in near]}")
    model_s = sum(r.model_s for r in fq)
    print(f"numpy twin: {hours * 3600 / model_s:,.0f} x real time over {hours:.0f} h")
    counts = fq[0].counts
    assert counts is not None
    engine_speeds(counts)
    bench_32bit.cpu_figures(counts, FS, RANGE_G)
    seizure = next(r for r in sz if match(r))
    ep = match(seizure)[0][0]
    c = seizure_counts(args.seed, ep)
    heap_figures(c)
    return 0


def seizure_counts(seed: int, ep: simulate.Truth) -> np.ndarray:
    nt = simulate.night(seed, 1.0, 3)
    t, acc = nt.signal()
    counts = trace.to_counts(trace.Trace(t, acc), FS, RANGE_G)
    a = max(0, int((ep.start - 30) * FS))
    return counts[a: a + max(120, int(ep.end - ep.start) + 60) * FS]


if __name__ == "__main__":
    raise SystemExit(main())
