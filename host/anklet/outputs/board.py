"""The monitor's state as outputs see it: a `BoardState` built from a running `Monitor`.

Read-only: it looks at the monitor's snapshot (link, battery, wear, episode, mute), its active alarms and what it
raised tonight. Times are the monitor's clock (the real one at night, the virtual one in the demo and tests), so
a page computes durations from `state.now`, never from its own clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import AlarmItem, BoardState

if TYPE_CHECKING:
    from ..monitor import Monitor

RANK = {"escalation": 0, "alarm": 1, "fault": 2, "notice": 3, "warning": 4}
RECENT_MAX = 20


def alarm_key(key: tuple[Any, ...]) -> str:
    return ":".join(str(k) for k in key)


def board_state(mon: Monitor, now: float | None = None, *, acked_by: dict[str, str] | None = None,
                last_ack: str = "", triage_done: bool = False) -> BoardState:
    """What every output shows at `now` (default: the monitor's clock)."""
    now = mon.clock.now() if now is None else now
    snap = mon.snapshot(now)
    acked_by = acked_by or {}
    items = []
    for a in mon.active.values():
        k = alarm_key(a.key)
        items.append(AlarmItem(key=k, level=a.level, code=a.code, message=a.message, since=a.since, loud=a.loud,
                               acked=a.acked, acked_by=acked_by.get(k) if a.acked else None,
                               muted_until=a.muted_until))
    # Loudest first: unacknowledged before acknowledged, then by level, then the oldest.
    items.sort(key=lambda i: (i.acked, RANK.get(i.level, 9), i.since))
    recent = []
    for n, r in enumerate(mon.raised):
        recent.append(AlarmItem(key=f"raised:{n}", level=r.level, code=r.code, message=r.message, since=r.at,
                                loud=r.level in ("alarm", "escalation", "fault")))
    recent.reverse()
    return BoardState(
        now=now, band=snap.band, link=snap.link, silent_s=snap.silent_s, battery_pct=snap.battery_pct,
        worn=snap.worn, activity=snap.activity, episode=snap.episode, alarms=tuple(items),
        recent=tuple(recent[:RECENT_MAX]), muted_s=snap.muted_s, episode_id=mon.last_alarmed_episode,
        last_ack=last_ack, triage_done=triage_done, watched="no_data" not in mon.faults.active,
        mono=mon.clock.monotonic() + (now - mon.clock.now()),
    )
