"""What a report holds, gathered from the log: nights, episodes, gaps in monitoring, faults, activity.

A night is named by the date of its evening and runs from noon that day to noon the next (local time), so
naps and early mornings belong to exactly one night and no hour falls between two nights.

Gaps in monitoring come from three places and are merged per kind:
- the monitor's FAULT alarms (no data, band not worn, battery low, log not writable), with their start and end;
- the receive times of band events: a silence longer than GAP_S is a gap even when no monitor was running
  to raise a fault (the band sends an ACTIVITY summary every minute, so silence over two and a half minutes
  means the host heard nothing);
- the band's own STATUS reports of not being worn.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from ..store import ALARM_LEVELS, Alarm, Episode, Store, to_datetime
from .raw import Recording

GAP_S = 150.0
NIGHT_START = time(12, 0)  # a night runs from noon to noon

# Plain words for each kind of gap (the monitor's fault codes, anklet/faults.py).
GAP_LABELS = {
    "no_data": "No data from the band",
    "not_running": "Monitor not running",
    "not_worn": "Band not worn",
    "battery_low": "Band battery low (still watching)",
    "battery_critical": "Band battery critically low",
    "log_write": "Log could not be written",
    "events_lost": "Events lost on the band (not in this log)",
}
# Kinds during which the band was NOT watching (battery_low: it still was; events_lost: the log holds nothing).
NOT_WATCHING = ("no_data", "not_running", "not_worn", "battery_critical", "log_write", "events_lost")
# DROPPED causes (anklet_fw.eventq.LOST_*).
_LOST_CAUSES = {1: "its queue was full while the monitor was away", 2: "damaged in its flash memory"}
ONE_SHOT_LABELS = {
    "band_reset": "The band restarted",
    "dropped": "Events lost on the band (a gap in its sequence: count and cause in the message)",
    "sound": "The alarm could not be sounded",
    "host_crash": "The monitor stopped unexpectedly",
    "notify": "Desktop notifications not available",
}


def night_window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, NIGHT_START).astimezone()
    end = datetime.combine(day + timedelta(days=1), NIGHT_START).astimezone()
    return start, end


def night_of(t: datetime) -> date:
    """The night (its evening's date) that a moment belongs to."""
    local = t.astimezone()
    return local.date() if local.time() >= NIGHT_START else local.date() - timedelta(days=1)


@dataclass
class Gap:
    kind: str  # a GAP_LABELS key
    start: datetime
    end: datetime  # clipped to the watched span
    open_end: bool = False  # the log holds no end: it was still going when the log ends
    messages: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return GAP_LABELS.get(self.kind, self.kind.replace("_", " "))

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def watching(self) -> bool:
        return self.kind not in NOT_WATCHING


@dataclass
class EpisodeView:
    episode: Episode
    number: int  # 1.. within the report
    alarms: list[Alarm]
    trend: list[tuple[float, float, int, str]]  # (s since onset, freq Hz, amp mg, event kind)
    triage: dict[str, Any] | None
    recording: Recording | None = None

    @property
    def onset(self) -> datetime | None:
        return self.episode.onset

    @property
    def end(self) -> datetime | None:
        e = self.episode
        return None if e.onset is None else e.onset + timedelta(seconds=e.duration_s)

    @property
    def level(self) -> str | None:
        return self.episode.max_level


@dataclass
class NightData:
    day: date
    window: tuple[datetime, datetime]
    watched: tuple[datetime, datetime] | None  # first and last sign of monitoring; None: nothing logged
    episodes: list[EpisodeView]
    gaps: list[Gap]
    one_shots: list[Alarm]  # band restarts, dropped events, sound failures, monitor crashes
    activity: list[tuple[datetime, int, int]]  # (time, movement mg, active s) per minute
    battery: list[tuple[datetime, int]]  # (time, %)
    recordings: list[Recording]
    bands: list[str]

    @property
    def empty(self) -> bool:
        return self.watched is None

    @property
    def span_s(self) -> float:
        return 0.0 if self.watched is None else (self.watched[1] - self.watched[0]).total_seconds()

    @property
    def unwatched_s(self) -> float:
        return _union_s([(g.start, g.end) for g in self.gaps if not g.watching])

    @property
    def watched_s(self) -> float:
        return max(0.0, self.span_s - self.unwatched_s)


def _union_s(spans: list[tuple[datetime, datetime]]) -> float:
    total = 0.0
    cur: tuple[datetime, datetime] | None = None
    for a, b in sorted(spans):
        if cur is None or a > cur[1]:
            if cur is not None:
                total += (cur[1] - cur[0]).total_seconds()
            cur = (a, b)
        else:
            cur = (cur[0], max(cur[1], b))
    if cur is not None:
        total += (cur[1] - cur[0]).total_seconds()
    return total


def _sessions(store: Store, since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """Monitor sessions overlapping [since, until): (started, last alive or ended)."""
    rows = store.db.execute(
        "SELECT started_at, alive_at, ended_at FROM sessions WHERE started_at < ? AND COALESCE(ended_at, alive_at) >= ?",
        (until.timestamp(), since.timestamp()),
    ).fetchall()
    out = []
    for r in rows:
        end = r["ended_at"] if r["ended_at"] is not None else r["alive_at"]
        out.append((to_datetime(r["started_at"]), to_datetime(end)))
    return out  # type: ignore[return-value]


def _merge(kind: str, spans: list[tuple[datetime, datetime, bool, str]]) -> list[Gap]:
    out: list[Gap] = []
    for a, b, open_end, msg in sorted(spans, key=lambda s: s[0]):
        if out and a <= out[-1].end:
            g = out[-1]
            if b >= g.end:
                g.end, g.open_end = b, open_end
            if msg and msg not in g.messages:
                g.messages.append(msg)
        else:
            out.append(Gap(kind, a, b, open_end, [msg] if msg else []))
    return out


def _lost_spans(events: list[Any], w0: datetime, w1: datetime) -> list[tuple[datetime, datetime, bool, str]]:
    """The band's DROPPED reports as spans: from the logged event before the lost seqs to the one after."""
    out = []
    for le in events:
        e = le.event
        if e.kind != "dropped":
            continue
        first, last = e.fields.get("first_seq", 0), e.fields.get("last_seq", 0)
        mine = [x for x in events if x.band == le.band and x.event.seq is not None and x.at is not None]
        before = [x.at for x in mine if x.event.seq < first]
        after = [x.at for x in mine if x.event.seq > last]
        a = max(before) if before else w0
        b = min(after) if after else w1
        why = _LOST_CAUSES.get(e.fields.get("cause", 0), "cause not reported")
        msg = f"{e.fields.get('count', 0)} events (seq {first}-{last}) lost on the band: {why}"
        out.append((max(a, w0), min(max(b, a), w1), False, msg))
    return out


def _trends(store: Store, since: datetime, until: datetime) -> dict[tuple[str, int, int], list]:
    out: dict[tuple[str, int, int], list] = defaultdict(list)
    for le in store.events(since, until, kinds=["start", "update", "end"]):
        e = le.event
        f = e.fields
        onset = f.get("onset_ms")
        if onset is None:
            continue
        freq = f.get("f_end_chz", f.get("freq_chz", 0)) if e.kind == "end" else f.get("freq_chz", 0)
        out[(le.band, e.boot or 0, onset)].append(((e.t_ms - onset) / 1000.0, freq / 100.0, f.get("amp_mg", 0), e.kind))
    for v in out.values():
        v.sort()
    return out


def gather_night(store: Store, day: date, recordings: list[Recording] | None = None, *,
                 now: datetime | None = None, first_number: int = 1) -> NightData:
    """Everything the report shows about one night."""
    since, until = night_window(day)
    now = now or datetime.now().astimezone()
    recordings = recordings or []
    events = store.events(since, until)
    sessions = _sessions(store, since, until)
    alarms = store.alarms(since, until)
    marks: list[datetime] = [le.received_at for le in events]
    for a, b in sessions:
        marks += [max(a, since), min(b, until)]
    marks += [a.raised_at for a in alarms]
    episodes = store.episodes(since, until)
    marks += [e.onset for e in episodes if e.onset is not None]
    bands = sorted({le.band for le in events} | {e.band for e in episodes})
    watched = (min(marks), max(marks)) if marks else None

    gaps: list[Gap] = []
    if watched is not None:
        w0, w1 = watched
        # A fault still open at the end of the log ran at least to the last sign of monitoring.
        by_kind: dict[str, list[tuple[datetime, datetime, bool, str]]] = defaultdict(list)
        for p in store.faults(since, until):
            if p.kind not in GAP_LABELS:
                continue
            end = p.end if p.end is not None else w1
            by_kind[p.kind].append((max(p.start, w0), min(max(end, p.start), w1), p.end is None, p.message))
        for p in store.gaps(w0, w1, min_s=GAP_S):
            end = p.end or w1
            alive = any(a < end and b > p.start for a, b in sessions)
            kind = "no_data" if alive or not sessions else "not_running"
            msg = p.message if alive or not sessions else f"no monitor session was running; {p.message}"
            by_kind[kind].append((p.start, end, False, msg))
        for p in store.band_off(since, until):
            end = p.end if p.end is not None else w1
            by_kind["not_worn"].append((max(p.start, w0), min(end, w1), p.end is None, p.message))
        by_kind["events_lost"] += _lost_spans(events, w0, w1)
        for kind, spans in by_kind.items():
            gaps += [g for g in _merge(kind, spans) if g.duration_s > 0]
        for g in gaps:
            if g.kind != "no_data":
                continue
            # Events the band measured during a link loss and sent once it was back: logged, but late.
            late = [le for le in events if le.at is not None and g.start <= le.at < g.end and le.received_at >= g.end]
            if late:
                g.messages.append(f"the band kept measuring and sent its {len(late)} events when the link came back: "
                                  f"they are in this report, but no alarm could sound during the gap")
        gaps.sort(key=lambda g: (g.start, g.kind))

    one_shots = [a for a in alarms if a.is_fault and a.code not in GAP_LABELS and a.level != "clear"]
    ep_alarms: dict[int, list[Alarm]] = defaultdict(list)
    for a in store.alarms(since, until + timedelta(hours=1), faults=False):
        if a.episode_id is not None:
            ep_alarms[a.episode_id].append(a)
    trends = _trends(store, since, until + timedelta(hours=1))
    views = []
    for i, e in enumerate(episodes):
        v = EpisodeView(e, first_number + i, ep_alarms.get(e.id, []), trends.get((e.band, e.boot, e.onset_ms), []),
                        store.triage_for(e.id))
        if v.onset is not None and v.end is not None:
            v.recording = next((r for r in recordings if r.covers(v.onset, v.end)), None)
        views.append(v)

    activity = [(le.at or le.received_at, int(le.event.fields.get("movement_mg", 0)),
                 int(le.event.fields.get("active_s", 0))) for le in events if le.event.kind == "activity"]
    battery = [(t, pct) for t, pct, _mv in store.battery(since, until)]
    recs = [r for r in recordings if r.covers(since, until)]
    return NightData(day, (since, until), watched, views, gaps, one_shots, sorted(activity), sorted(battery),
                     recs, bands)


def gather(store: Store, days: list[date], recordings: list[Recording] | None = None,
           now: datetime | None = None) -> list[NightData]:
    """Several nights, episodes numbered through the whole report."""
    out = []
    n = 1
    for d in days:
        nd = gather_night(store, d, recordings, now=now, first_number=n)
        n += len(nd.episodes)
        out.append(nd)
    return out


def latest_night(store: Store) -> date | None:
    """The night of the latest thing in the log, or None if the log holds nothing."""
    row = store.db.execute(
        "SELECT MAX(t) FROM (SELECT MAX(received_at) AS t FROM events UNION ALL SELECT MAX(raised_at) FROM alarms "
        "UNION ALL SELECT MAX(alive_at) FROM sessions)"
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return night_of(to_datetime(row[0]))  # type: ignore[arg-type]


def level_rank(level: str | None) -> int:
    return -1 if level is None else ALARM_LEVELS.index(level) if level in ALARM_LEVELS else -1
