"""`anklet scan`, `anklet pair`, `anklet record`: finding, pairing and recording from a band over Bluetooth."""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anklet_fw import packet_host as packet

from . import trace
from .link import LinkError
from .link.bleak_link import BleakLink, open_link, pair_band, scan
from .link.pairing import PairingStore


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("scan", help="list anklet bands in range",
                              description="Scan for bands advertising the anklet service.")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to listen (default 5)")
    p.add_argument("--pairings", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_scan)

    p = subparsers.add_parser("pair", help="pair and bond with a band",
                              description="Pair with a band in pairing mode (the first 120 s after switching it on) "
                                          "using the 6-digit passkey printed on it; the monitor only talks to "
                                          "paired bands. The system's Bluetooth agent asks for the passkey.")
    p.add_argument("address", help="the band's address, as `anklet scan` shows it")
    p.add_argument("--passkey", type=int, help=argparse.SUPPRESS)  # Bumble stacks only: bleak cannot hand it to
    # the platform's stack, so pair_band refuses it there (docs/protocol.md, Security)
    p.add_argument("--pairings", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_pair)

    p = subparsers.add_parser("record", help="record raw accelerometer samples from the band to a trace CSV",
                              description="Stream raw samples from the paired band and write them in the trace "
                                          "format `anklet replay` reads (t,ax,ay,az in seconds and g).")
    p.add_argument("trace", help="output CSV")
    p.add_argument("--duration", type=float, required=True, help="seconds to record")
    p.add_argument("--band", help="band address or name (default: the paired band)")
    p.add_argument("--pairings", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_record)


def _store(args: Any) -> PairingStore:
    return PairingStore(args.pairings) if getattr(args, "pairings", None) else PairingStore()


def _run(coro: Any) -> Any:
    from .cli import CliError

    try:
        return asyncio.run(coro)
    except LinkError as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:  # a Bluetooth stack missing or off
        mod = type(exc).__module__
        if isinstance(exc, OSError) or mod.startswith(("bleak", "dbus")):
            raise CliError(f"Bluetooth is not available ({type(exc).__name__}: {exc}). Is Bluetooth on, is the "
                           "system's Bluetooth service (BlueZ on Linux) running, and is there an adapter?") from exc
        raise


def _cmd_scan(args: Any) -> int:
    found = _run(scan(args.timeout))
    paired = {p.address.upper() for p in _store(args).all()}
    if not found:
        print(f"no band found in {args.timeout:g} s (is it on and charged?)")
        return 1
    for dev, adv in found:
        mark = "paired" if dev.address.upper() in paired else "not paired"
        print(f"{dev.address}  {adv.local_name or dev.name or '?':<20} {adv.rssi:>4} dBm  {mark}")
    return 0


def _cmd_pair(args: Any) -> int:
    from .cli import CliError

    if args.passkey is not None and not 0 <= args.passkey <= 999999:
        raise CliError(f"passkey {args.passkey} is not a 6-digit number")
    p = _run(pair_band(args.address, args.passkey, _store(args)))
    print(f"paired with band {p.address} ({p.name or 'unnamed'}), id {p.uid:012x}")
    return 0


@dataclass
class Recording:
    fs: int = 0
    range_g: int = 0
    samples: list[tuple[int, int, int, int]] = field(default_factory=list)  # (index, x, y, z)
    bad_frames: int = 0
    missing: int = 0  # samples lost between frames
    errors: list[str] = field(default_factory=list)
    _next: int = 0

    def feed(self, data: bytes) -> None:
        try:
            fs, range_g, first, rows = packet.decode_raw(data)
        except packet.PacketError as exc:
            self.bad_frames += 1
            self.errors.append(str(exc))
            return
        if self.fs == 0:
            self.fs, self.range_g = fs, range_g
            self._next = first
        elif (fs, range_g) != (self.fs, self.range_g):
            self.errors.append(f"rate/range changed mid-recording to {fs} Hz / {range_g} g: frame dropped")
            self.bad_frames += 1
            return
        if first < self._next:
            return  # a repeat
        self.missing += first - self._next
        for i, (x, y, z) in enumerate(rows):
            self.samples.append((first + i, x, y, z))
        self._next = first + len(rows)

    def write(self, path: str | Path) -> int:
        if not self.samples:
            raise LinkError("no raw samples arrived from the band: nothing written")
        arr = np.array(self.samples, dtype=np.int64)
        t = arr[:, 0] / float(self.fs)
        acc = arr[:, 1:4] / float(32768 // self.range_g)
        trace.write(path, t, acc)
        return len(arr)


async def record(link: BleakLink, duration: float, resume_after: int | None = None) -> Recording:
    """Stream raw samples for `duration` seconds. Events keep waiting on the band for the monitor."""
    rec = Recording()
    link.on_raw = rec.feed
    await link.connect(resume_after)
    try:
        await link.set_raw(True)
        end = time.monotonic() + duration
        while time.monotonic() < end:
            await asyncio.sleep(min(0.2, end - time.monotonic()))
            if not link.is_connected:
                raise LinkError(f"link lost after {len(rec.samples)} samples")
        await link.set_raw(False)
    finally:
        link.on_raw = None
        await link.disconnect()
    return rec


def _cmd_record(args: Any) -> int:
    from .cli import CliError

    if args.duration <= 0:
        raise CliError("--duration must be positive")
    link = open_link(args.band, store=_store(args))
    rec = _run(record(link, args.duration))
    try:
        n = rec.write(args.trace)
    except LinkError as exc:
        raise CliError(str(exc)) from exc
    print(f"wrote {n} samples ({n / rec.fs:.1f} s at {rec.fs} Hz, +-{rec.range_g} g) to {args.trace}")
    if rec.missing or rec.bad_frames:
        print(f"warning: {rec.missing} samples missing, {rec.bad_frames} bad frames")
        return 1
    return 0
