"""`anklet demo`: a simulated night through the band's detector, the alarm rule and the log.

First version (the monitor's full demo replaces it): the firmware detector runs
under CPython over a simulated two-hour night with one clonic episode; every
event is numbered as the band's queue would and written to a temporary log.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from . import engines, simulate, trace
from .records import AlarmDecision, DeviceEvent
from .replay import decide, describe
from .store import Store

FS, RANGE_G = 50, 8


def night_events(seed: int, hours: float) -> tuple[list[DeviceEvent], simulate.Night]:
    nt = simulate.night(seed, hours, seizures=1, seizure_durations=(60.0, 120.0), subtle_share=0.0)
    t, acc = nt.signal()
    counts = trace.to_counts(trace.Trace(t, acc), FS, RANGE_G)
    events = engines.run_firmware(counts, FS, RANGE_G)
    numbered = [DeviceEvent(e.kind, e.t_ms, e.fields, seq=i + 1, boot=1) for i, e in enumerate(events)]
    return numbered, nt


def _cmd(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    events, nt = night_events(args.seed, args.hours)
    items = list(decide(events))
    alarms = [i for i in items if isinstance(i, AlarmDecision) and i.level != "clear"]
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "demo.db") as store:
            store.add_events("demo-band", events, received_at=time.time())
            logged = store.count_events()
    if not args.json:
        for item in items:
            if isinstance(item, AlarmDecision) or item.kind in ("start", "end"):
                print(describe(item))
        truth = [x for x in nt.truth if x.type == "clonic"]
        for ep in truth:
            print(f"(truth: clonic episode {ep.start:.0f}-{ep.end:.0f} s, {ep.params['freq_mean']:.2f} Hz)")
        print(f"night of {args.hours:g} h: {len(events)} events sent, {logged} logged, {len(alarms)} alarm "
              f"decisions, {time.monotonic() - t0:.1f} s")
    else:
        print(json.dumps({"events_sent": len(events), "events_logged": logged,
                          "alarms": [{"level": a.level, "t": a.t} for a in alarms], "faults": []}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a simulated night on a built-in virtual band")
    p.add_argument("--json", action="store_true")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--hours", type=float, default=2.0)
    p.set_defaults(func=_cmd)
