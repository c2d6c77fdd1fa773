"""The alarm rule for prolonged rhythmic shaking.

It reads device events only (START, UPDATE, END, BOOT), so the same code decides on
a live band and in replay. Each level is raised at most once per episode, as soon
as an event shows the episode has lasted long enough: NOTICE at 10 s, ALARM at the
configured threshold (default 20 s, 10 to 120 s), ESCALATION past 5 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .records import AlarmDecision, DeviceEvent

NOTICE_S = 10
ALARM_S_DEFAULT = 20
ALARM_S_RANGE = (10, 120)
ESCALATION_S = 300

LEVELS = ("notice", "alarm", "escalation")


def check_alarm_s(value: float) -> float:
    lo, hi = ALARM_S_RANGE
    if not isinstance(value, (int, float)) or not lo <= value <= hi:  # nan and inf fail this too
        raise ValueError(f"alarm threshold {value} s is out of range: it must be {lo} to {hi} s")
    return value


@dataclass
class _Episode:
    onset_ms: int
    raised: int = 0  # how many of LEVELS have been raised
    freq_chz: int = 0


class AlarmRule:
    def __init__(self, alarm_s: float = ALARM_S_DEFAULT, notice_s: float = NOTICE_S,
                 escalation_s: float = ESCALATION_S) -> None:
        check_alarm_s(alarm_s)
        notice_s = min(notice_s, alarm_s)
        self.thresholds_ms = (int(notice_s * 1000), int(alarm_s * 1000), int(escalation_s * 1000))
        self.episode: _Episode | None = None

    @property
    def level(self) -> str | None:
        """The level currently raised for the open episode, if any."""
        if self.episode is None or self.episode.raised == 0:
            return None
        return LEVELS[self.episode.raised - 1]

    def feed(self, event: DeviceEvent) -> list[AlarmDecision]:
        if event.kind == "boot":
            # A reset ends whatever the band was tracking; the monitor reports the reset itself.
            return self._close(event.t_ms, 0)
        if event.kind not in ("start", "update", "end"):
            return []
        onset = event.fields["onset_ms"]
        if self.episode is None or self.episode.onset_ms != onset:
            out = self._close(event.t_ms, 0) if self.episode else []
            self.episode = _Episode(onset)
        else:
            out = []
        ep = self.episode
        ep.freq_chz = event.fields.get("freq_chz", ep.freq_chz)
        # END carries the episode's true length; START/UPDATE imply it lasted until now.
        dur = event.fields["dur_ms"] if event.kind == "end" else event.t_ms - onset
        while ep.raised < len(LEVELS) and dur >= self.thresholds_ms[ep.raised]:
            out.append(AlarmDecision(LEVELS[ep.raised], event.t_ms, onset, dur, ep.freq_chz))
            ep.raised += 1
        if event.kind == "end":
            out += self._close(event.t_ms, dur)
        return out

    def _close(self, t_ms: int, dur: int) -> list[AlarmDecision]:
        ep, self.episode = self.episode, None
        if ep is None or ep.raised == 0:
            return []
        return [AlarmDecision("clear", t_ms, ep.onset_ms, dur, ep.freq_chz)]
