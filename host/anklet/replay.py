"""`anklet replay`: run a recorded trace through the detector and the alarm rule."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from typing import TextIO

import numpy as np

from . import trace as tr
from .alarm import ALARM_S_DEFAULT, AlarmRule, check_alarm_s
from .cli import CliError
from .engines import ENGINES, EngineError
from .records import AlarmDecision, DeviceEvent

Item = DeviceEvent | AlarmDecision


def decide(events: Iterable[DeviceEvent], alarm_s: float = ALARM_S_DEFAULT) -> Iterator[Item]:
    """Each device event followed by the alarm decisions it caused."""
    rule = AlarmRule(alarm_s)
    for event in events:
        yield event
        yield from rule.feed(event)


def run(counts: np.ndarray, engine: str = "model", fs: int = 50, range_g: int = 8,
        alarm_s: float = ALARM_S_DEFAULT, **options: object) -> list[Item]:
    try:
        fn = ENGINES[engine]
    except KeyError:
        raise CliError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})") from None
    return list(decide(fn(counts, fs, range_g, **options), alarm_s))


def describe(item: Item) -> str:
    if isinstance(item, AlarmDecision):
        what = "cleared" if item.level == "clear" else item.level.upper()
        return (f"{item.t:9.1f} s  ** {what:<10}  episode from {item.onset_ms / 1000:.1f} s, "
                f"{item.duration_ms / 1000:.0f} s so far, {item.freq_chz / 100:.2f} Hz")
    f = item.fields
    head = f"{item.t:9.1f} s  {item.kind:<13}"
    if item.kind == "start":
        return f"{head}rhythm began {f['onset_ms'] / 1000:.1f} s, {f['freq_chz'] / 100:.2f} Hz, " \
               f"rhythmicity {f['rhythm'] / 1024:.2f}, {f['amp_mg']} mg"
    if item.kind == "update":
        return f"{head}{f['dur_ms'] / 1000:.0f} s, {f['freq_chz'] / 100:.2f} Hz " \
               f"(drift {f['drift_chz'] / 100:+.2f}), rhythmicity {f['rhythm'] / 1024:.2f}, {f['amp_mg']} mg"
    if item.kind == "end":
        return f"{head}lasted {f['dur_ms'] / 1000:.0f} s from {f['onset_ms'] / 1000:.1f} s, " \
               f"{f['freq_chz'] / 100:.2f} Hz ({f['f_start_chz'] / 100:.2f} -> {f['f_end_chz'] / 100:.2f}), " \
               f"rhythmicity {f['rhythm'] / 1024:.2f}, peak {f['amp_mg']} mg"
    if item.kind == "activity":
        from anklet_fw.event_fields import POSTURE_NAMES

        return f"{head}movement {f['movement_mg']} mg, {f['jerks']} jerks, {f['rhythm_s']} s rhythm, " \
               f"posture {POSTURE_NAMES[f['posture']]} ({f['posture_changes']} changes), active {f['active_s']} s"
    return head + " ".join(f"{k}={v}" for k, v in f.items())


def emit(items: Iterable[Item], as_json: bool, out: TextIO) -> None:
    for item in items:
        out.write((json.dumps(item.to_json()) if as_json else describe(item)) + "\n")


def load_counts(path: str, fs: int, range_g: int) -> np.ndarray:
    try:
        return tr.to_counts(tr.read(path), fs, range_g)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def _cmd(args: argparse.Namespace) -> int:
    try:
        check_alarm_s(args.alarm_s)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    counts = load_counts(args.trace, args.fs, args.range)
    options = {"port": args.port} if args.port else {}
    try:
        items = run(counts, args.engine, args.fs, args.range, args.alarm_s, **options)
    except EngineError as exc:
        raise CliError(str(exc)) from exc
    emit(items, args.json, sys.stdout)
    if not args.json:
        decisions = [i for i in items if isinstance(i, AlarmDecision)]
        raised = [d for d in decisions if d.level == "alarm"]
        print(f"{len(items) - len(decisions)} device events, {len(decisions)} alarm decisions "
              f"({len(raised)} ALARM) over {len(counts) / args.fs:.0f} s ({args.engine} engine)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="run a recorded trace through the detector and the alarm rule",
                       description="Replay TRACE.csv (header t,ax,ay,az; seconds and g) through the detector.")
    p.add_argument("trace", metavar="TRACE.csv")
    p.add_argument("--engine", default="model", help="model (numpy twin), firmware (CPython), micropython, "
                   "or device (a band or virtual band on --port)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--fs", type=int, default=50, help="band data rate in Hz (25-104, default 50)")
    p.add_argument("--range", type=int, default=8, help="sensor range in g (2, 4, 8, 16; default 8)")
    p.add_argument("--alarm-s", type=float, default=ALARM_S_DEFAULT, help="alarm threshold in s (10-120, default 20)")
    p.add_argument("--port", help="serial port of the band (device engine)")
    p.set_defaults(func=_cmd)
