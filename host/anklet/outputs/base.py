"""The contract between the monitor and its alarm outputs (web page, MQTT, push, ...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class OutputError(Exception):
    """An output could not deliver (broker unreachable, push refused, port taken); the monitor raises a FAULT."""


@dataclass(frozen=True)
class AlarmItem:
    """One alarm on the board, as an output shows it."""

    key: str  # stable while the alarm lives ("episode:3:17", "fault:no_data")
    level: str  # notice | alarm | escalation | fault | warning
    code: str
    message: str
    since: float  # wall time (seconds since the epoch) the alarm was raised
    loud: bool  # sounds and repeats until acknowledged
    acked: bool = False
    acked_by: str | None = None
    muted_until: float | None = None  # wall time


@dataclass(frozen=True)
class BoardState:
    """Everything an output needs to show, at one instant."""

    now: float  # wall time
    band: str
    link: str  # "connected", "reconnecting in 4 s", ...
    silent_s: float | None  # seconds since the band was last heard
    battery_pct: int | None
    worn: bool | None
    activity: str  # the last minute's movement, for people
    episode: str  # the current episode and its running duration, "" if none
    alarms: tuple[AlarmItem, ...] = ()  # active alarms, loudest first (acknowledged ones included, marked)
    recent: tuple[AlarmItem, ...] = ()  # the night's latest alarms, newest first, at most 20
    muted_s: float | None = None  # remaining mute
    episode_id: int | None = None  # the episode triage would ask about ("anklet triage last")
    extra: dict[str, str] = field(default_factory=dict)
    last_ack: str = ""  # "02:13:05 by web page (192.168.1.20)", "" before any acknowledgement
    triage_done: bool = False  # the answers about episode_id are already saved
    watched: bool = True  # the band is heard (False: the no-data FAULT is up; what it last said may be stale)
    mono: float | None = None  # the monitor's monotonic time: for an output's own delays and repeats (a step of
    # the wall clock must neither hold them back nor bring them forward); None: use `now`

    @property
    def loudest(self) -> AlarmItem | None:
        return self.alarms[0] if self.alarms else None

    @property
    def sounding(self) -> bool:
        return any(a.loud and not a.acked for a in self.alarms)


class OutputControl(Protocol):
    """What an output may ask of the monitor."""

    band: str  # the band's id, known before the first state (an output names its topics after it)

    def acknowledge(self, by: str, mute_s: float | None = None) -> int:
        """Acknowledge every active alarm (muting for mute_s, default the monitor's); return how many."""
        ...

    def triage_form(self, episode_id: int) -> dict[str, Any]:
        """The triage questions about an episode, what the band measured already filled in (KeyError: no episode)."""
        ...

    def save_triage(self, episode_id: int, answers: dict[str, Any], by: str) -> dict[str, Any]:
        """Evaluate the parents' answers with the triage engine, save them with the episode, return the result.

        Raises KeyError (no such episode) or ValueError (a malformed answer; the message names the question)."""
        ...


class AlarmOutput(Protocol):
    name: str

    async def start(self, control: OutputControl) -> None:
        """Connect, bind, announce; raise OutputError if it cannot."""
        ...

    async def publish(self, state: BoardState) -> None:
        """Show the state; called once per monitor tick (about 1 s) and at once on every alarm change."""
        ...

    async def close(self) -> None: ...
