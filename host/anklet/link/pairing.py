"""The bands this host has paired with (`anklet pair`): address and the band's 48-bit uid, kept in a small JSON
file readable by its owner only. The bleak link talks only to a band recorded here."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .contract import LinkError


@dataclass(frozen=True)
class Pairing:
    address: str
    uid: int
    name: str = ""
    paired_at: float = 0.0


def default_pairing_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "anklet" / "bands.json"


class PairingStore:
    """The bands this host has paired with: a small JSON file readable by its owner only."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_pairing_path()

    def all(self) -> list[Pairing]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise LinkError(f"cannot read the paired bands in {self.path}: {exc}") from exc
        return [Pairing(**item) for item in data.get("bands", [])]

    def get(self, address: str) -> Pairing | None:
        for p in self.all():
            if p.address.upper() == address.upper():
                return p
        return None

    def add(self, pairing: Pairing) -> None:
        bands = [p for p in self.all() if p.address.upper() != pairing.address.upper()] + [pairing]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"version": 1, "bands": [asdict(p) for p in bands]}, f, indent=1)
        os.replace(tmp, self.path)

    def remove(self, address: str) -> bool:
        before = self.all()
        after = [p for p in before if p.address.upper() != address.upper()]
        if len(after) == len(before):
            return False
        self.path.write_text(json.dumps({"version": 1, "bands": [asdict(p) for p in after]}, indent=1))
        return True
