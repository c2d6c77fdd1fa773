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
from dataclasses import dataclass

from .records import DeviceEvent


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


class BandLink(abc.ABC):
    band_id: str

    @abc.abstractmethod
    async def connect(self, resume_after: int | None) -> None:
        """Connect, and ask the band to (re)send every event after seq `resume_after` of its current boot."""

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
