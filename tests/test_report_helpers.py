"""Nights for the report tests, built with the real pipeline: simulated night -> detector (numpy twin) ->
alarm rule -> the log, with link losses, faults, triage answers and raw recordings added the way the monitor,
`anklet triage` and `anklet record` would add them. No tests here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import numpy as np

from anklet import engines, simulate, trace
from anklet.alarm import AlarmRule
from anklet.records import DeviceEvent
from anklet.store import Store
from anklet.triage import episode_inputs, nest, normalise, triage

FS = 52
RANGE_G = 8
CPG = 32768 // RANGE_G
BAND = "band-a"


@dataclass
class Night:
    day: date
    base: float  # wall time (epoch s) of band time 0
    counts: np.ndarray
    events: list[DeviceEvent]
    truth: list[simulate.Truth]
    episode_ids: list[int] = field(default_factory=list)
    alarm_ids: list[int] = field(default_factory=list)

    def wall(self, band_s: float) -> datetime:
        return datetime.fromtimestamp(self.base + band_s).astimezone()


def _status(t_s: int, pct: int) -> DeviceEvent:
    return DeviceEvent("status", t_s * 1000, {"battery_mv": 3600 + 6 * pct, "battery_pct": pct, "worn": 1,
                                              "fifo_overflows": 0, "queue_depth": 0, "uptime_s": t_s, "flags": 0})


def add_night(store: Store, day: date, *, seed: int = 3, minutes: float = 20.0, seizures: int = 0,
              durations: tuple[float, float] = (40.0, 90.0), link_lost: tuple[float, float] | None = None,
              battery_low_at: float | None = None, reset_at: float | None = None, triage_first: bool = False,
              start: time = time(21, 0), boot: int = 1, band: str = BAND) -> Night:
    """Log one simulated night starting at `start` on `day` (local time)."""
    nt = simulate.night(seed, minutes / 60.0, seizures=seizures, seizure_durations=durations, subtle_share=0.0)
    t, acc = nt.signal()
    counts = trace.to_counts(trace.Trace(t, acc), FS, RANGE_G)
    detected = engines.run_model(counts, FS, RANGE_G)
    span_s = len(counts) // FS
    extra = [DeviceEvent("boot", 0, {"reason": 1, "boot_count": boot, "fw_version": 1})]
    extra += [_status(s, max(1, 90 - s // 400)) for s in range(60, span_s, 300)]  # about 9 % an hour
    ordered = sorted(extra + detected, key=lambda e: (e.t_ms, e.kind != "boot"))
    events = [DeviceEvent(e.kind, e.t_ms, e.fields, seq=i + 1, boot=boot) for i, e in enumerate(ordered)]
    base = datetime.combine(day, start).astimezone().timestamp()

    def received(e: DeviceEvent) -> float:
        s = e.t_ms / 1000.0
        if link_lost and link_lost[0] <= s < link_lost[1]:
            return base + link_lost[1] + 0.5  # the band kept them and resent them after the link came back
        return base + s + 0.05

    batch: list[DeviceEvent] = []
    for e in events:
        if batch and received(e) != received(batch[0]):
            store.add_events(band, batch, received(batch[0]))
            batch = []
        batch.append(e)
    if batch:
        store.add_events(band, batch, received(batch[0]))

    night = Night(day, base, counts, events, nt.truth)
    rule = AlarmRule()
    for e in events:
        for d in rule.feed(e):
            if d.level == "clear":
                continue
            aid = store.add_alarm(d.level, received(e) + 0.05, band_id=band, boot=boot, t_ms=d.t_ms,
                                  onset_ms=d.onset_ms, message=f"rhythmic shaking for {d.duration_ms // 1000} s")
            store.ack_alarms([aid], received(e) + 30, by="test parent")
            night.alarm_ids.append(aid)
    if link_lost:
        aid = store.add_alarm("fault", base + link_lost[0] + 30, band_id=band, code="no_data",
                              message="no data from the band for 30 s: it is not being watched")
        store.end_alarm(aid, base + link_lost[1] + 0.5)
    if battery_low_at is not None:
        store.add_alarm("fault", base + battery_low_at, band_id=band, code="battery_low",
                        message="band battery low (18%)")
    if reset_at is not None:
        store.add_alarm("fault", base + reset_at, band_id=band, code="band_reset",
                        message="the band restarted (watchdog)")
    since = datetime.fromtimestamp(base - 1).astimezone()
    eps = store.episodes(since=since, until=datetime.fromtimestamp(base + span_s + 60).astimezone(), band_id=band)
    night.episode_ids = [e.id for e in eps]
    if triage_first and eps:
        ep = eps[0]
        answers = {"episode": episode_inputs(ep), "observations": {
            "stiffness": "yes", "triggered": "no", "breathing_change": "no", "state": "asleep",
            "stops_when_held": "no"}}
        inputs = normalise(answers, today=ep.onset)
        store.save_triage(ep.id, nest(inputs), triage(answers, today=ep.onset), saved_at=base + span_s)
    return night


def write_recording(night: Night, directory: Path, band_s0: int, band_s1: int, *, how: str = "name") -> Path:
    """A raw recording (what `anklet record` writes: counts / counts-per-g, t from 0) of band seconds [s0, s1)."""
    i0, i1 = band_s0 * FS, band_s1 * FS
    t = np.arange(i1 - i0) / FS
    acc = night.counts[i0:i1] / CPG
    start = night.wall(band_s0)
    if how == "name":
        path = directory / f"rec-{start:%Y-%m-%dT%H-%M-%S}.csv"
    else:
        path = directory / f"rec{band_s0}.csv"
    trace.write(path, t, acc)
    if how == "sidecar":
        path.with_suffix(".json").write_text(json.dumps({"start": start.isoformat()}))
    return path
