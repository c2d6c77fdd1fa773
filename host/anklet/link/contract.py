"""The contract between the monitor and whatever carries events from a band.

The monitor drives a `BandLink`: it connects, receives decoded events, commits each
to the log and only then acknowledges it, so the band releases it. After a
reconnect the band resends everything after the last acknowledged sequence number,
and the log's idempotent insert on (band, boot, seq) makes delivery exactly-once.

Implementations: the Bluetooth link (bleak) and an in-process link for the demo
and tests. All of them raise `LinkLost` from any call once the band is gone.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass

from ..records import DeviceEvent


class LinkError(Exception):
    """A link problem with advice for the user in its text."""


class LinkLost(LinkError):
    """The connection to the band has dropped."""


@dataclass(frozen=True)
class BandStatus:
    battery_mv: int
    battery_pct: int
    worn: bool
    fifo_overflows: int
    queue_depth: int
    uptime_s: int
    boot: int
    fw_version: str


@dataclass(frozen=True)
class Gap:
    """Events of the band's sequence that will never reach the log, seen by the link.

    cause: "band" (the band no longer holds them: dropped when its queue was full or damaged in its flash,
    its DROPPED event says which), "unsendable" (the band cannot read them back from its flash), or
    "wiped" (the band does not hold what the log ends with: wiped, re-flashed or another band; how many
    it had not sent is unknown, so first, last and count are None)."""

    first: int | None
    last: int | None
    count: int | None
    cause: str
    message: str


class BandLink(abc.ABC):
    band_id: str
    # Called with each Gap the link finds (the monitor raises a FAULT); None: only kept by the link.
    on_gap: Callable[[Gap], None] | None = None
    # Called with each alarm-relevant event the band sent ahead of the in-order stream (docs/protocol.md,
    # alerts): for alarm decisions only; the same event comes again from next_event, in order, to be logged.
    on_early: Callable[[DeviceEvent], None] | None = None

    def take_early(self) -> list[DeviceEvent]:
        """Alarm-relevant events received ahead of the in-order stream since the last call (oldest first)."""
        return []

    @abc.abstractmethod
    async def connect(self, resume_after: int | None, resume_boot: int | None = None) -> None:
        """Connect, and ask the band to (re)send every event after seq `resume_after`, which the log holds
        under boot id `resume_boot` (None: unknown). A band that cannot show it wrote that event under that
        boot (wiped, re-flashed) is taken from its oldest event and the loss reported as a Gap."""

    @abc.abstractmethod
    async def next_event(self, timeout: float) -> DeviceEvent | None:
        """The next event in sequence order, or None if nothing arrived within `timeout` seconds."""

    @abc.abstractmethod
    async def ack(self, boot: int, seq: int) -> None:
        """Tell the band every event up to `seq` of boot `boot` is committed and may be released."""

    @abc.abstractmethod
    async def status(self) -> BandStatus:
        """Read the band's status characteristic."""

    @abc.abstractmethod
    async def disconnect(self) -> None:
        ...
