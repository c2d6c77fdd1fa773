"""Typed records on the host: device events as decoded from the band, and alarm decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from anklet_fw import event_fields as ef
from anklet_fw import events as ev
from anklet_fw import packet_host as packet

KIND_BY_NAME = {name: kind for kind, name in ef.NAMES.items()}


@dataclass(frozen=True)
class DeviceEvent:
    """One event from the band. `t_ms` is the band's sample clock."""

    kind: str
    t_ms: int
    fields: dict[str, int]
    seq: int | None = None
    boot: int | None = None

    @property
    def t(self) -> float:
        return self.t_ms / 1000.0

    @classmethod
    def from_record(cls, rec: Any, seq: int | None = None, boot: int | None = None) -> DeviceEvent:
        """From the detector's 9-int record (kind, t_ms, f0..f6)."""
        kind = int(rec[0])
        names = ef.FIELDS.get(kind)
        if names is None:
            raise ValueError(f"unknown event kind {kind}")
        values = {name: int(rec[2 + i]) for i, name in enumerate(names)}
        return cls(ef.NAMES[kind], int(rec[1]), values, seq, boot)

    @classmethod
    def from_packet(cls, data: bytes) -> DeviceEvent:
        seq, boot, kind, t_ms, values = packet.decode(data)
        return cls.from_record((kind, t_ms, *values), seq, boot)

    def record(self) -> tuple[int, ...]:
        kind = KIND_BY_NAME[self.kind]
        vals = [self.fields.get(name, 0) for name in ef.FIELDS[kind]]
        vals += [0] * (ev.N_FIELDS - len(vals))
        return (kind, self.t_ms, *vals)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "t": round(self.t, 3)}
        out.update(self.fields)
        if self.seq is not None:
            out["seq"] = self.seq
        return out


@dataclass(frozen=True)
class AlarmDecision:
    """A change of alarm level for one episode, decided from device events only."""

    level: str  # "notice" | "alarm" | "escalation" | "clear"
    t_ms: int  # band clock of the event that caused it
    onset_ms: int  # the episode it belongs to (its onset on the band clock)
    duration_ms: int
    freq_chz: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def t(self) -> float:
        return self.t_ms / 1000.0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "alarm",
            "level": self.level,
            "t": round(self.t, 3),
            "onset": round(self.onset_ms / 1000.0, 3),
            "duration": round(self.duration_ms / 1000.0, 3),
            "freq_hz": round(self.freq_chz / 100.0, 2),
        }
