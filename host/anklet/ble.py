"""The Bluetooth link to a band: bleak on the host, anklet_fw.radio on the band (docs/protocol.md).

`BleakLink` implements the monitor's `BandLink`. It only talks to bands paired with
`anklet pair` (a `PairingStore` record: address and the band's 48-bit uid), over an
encrypted, bonded link; a band whose uid is not the one paired is refused
(`BandRefused`, never retried). Events are delivered exactly in sequence: a
duplicate or replayed packet is dropped, a gap makes the link ask the band to
resend (RESUME), a malformed packet is counted and reported in `errors` while the
connection stays up. The monitor acknowledges an event only after committing it;
after a reconnect or a host restart it calls `connect(resume_after=last committed
seq)` and the band resends the rest.

Liveness: the band notifies its status every 5 s; `last_data` is the host's
monotonic time of the last packet of any kind and `silence()` the seconds since.
`next_event` raises `LinkLost` as soon as the link drops, or after
`liveness_s` of silence (the link is then dropped), so the monitor can raise its
FAULT alarm well inside 30 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError, BleakGATTProtocolError
from bleak_retry_connector import establish_connection

from anklet_fw import packet_host as packet
from anklet_fw.radio import ALERTS_UUID, CONTROL_UUID, EVENTS_UUID, RAW_UUID, SERVICE_UUID, STATUS_UUID

from .link import BandLink, BandStatus, Gap, LinkError, LinkLost
from .records import DeviceEvent

CONNECT_TRIES = 2  # per connection attempt, for the stack's transient errors (bleak-retry-connector)

log = logging.getLogger(__name__)

_SECURITY_CODES = (0x05, 0x08, 0x0C, 0x0F)  # insufficient authentication / authorization / key size / encryption


class BandRefused(LinkError):
    """The band is not the one paired (no bond, or another identity). Not retried."""


class PasskeyUnsupported(LinkError):
    """A passkey was given for a Bluetooth stack that cannot take it from us."""


class CommandError(LinkError):
    """The band answered a command with an error code."""

    def __init__(self, op: int, code: int) -> None:
        name = packet.ERR_NAMES[code] if code < len(packet.ERR_NAMES) else f"error {code}"
        super().__init__(f"band refused command {op}: {name}")
        self.op = op
        self.code = code


def status_from_frame(data: bytes) -> tuple[BandStatus, dict[str, int]]:
    s = packet.decode_status(data)
    return BandStatus(
        battery_mv=s["battery_mv"], battery_pct=s["battery_pct"], worn=bool(s["flags"] & packet.SF_WORN),
        fifo_overflows=s["fifo_overflows"], queue_depth=s["queue_depth"], uptime_s=s["uptime_s"],
        boot=s["boot"], fw_version=packet.version_text(s["fw_version"]),
    ), s


# -- pairings ------------------------------------------------------------------------

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


# -- scanning -----------------------------------------------------------------------

async def scan(timeout: float = 5.0, backend: Any = None) -> list[tuple[BLEDevice, Any]]:
    """Bands advertising the anklet service: [(device, advertisement)]."""
    found = await BleakScanner.discover(timeout=timeout, service_uuids=[SERVICE_UUID], return_adv=True,
                                        backend=backend)
    return sorted(found.values(), key=lambda da: -da[1].rssi)


async def find_band(address: str, timeout: float, backend: Any = None) -> BLEDevice | None:
    want = address.upper()
    return await BleakScanner.find_device_by_filter(
        lambda d, ad: d.address.upper() == want, timeout=timeout, service_uuids=[SERVICE_UUID], backend=backend)


async def pair_band(address: str, passkey: int | None, store: PairingStore, *, client_backend: Any = None,
                    scanner_backend: Any = None, timeout: float = 30.0) -> Pairing:
    """Pair and bond with the band at `address` (it must be in pairing mode), and remember it in `store`.

    The passkey is the 6-digit number printed on the band. Bumble backends take it here; the platform's
    stack (BlueZ, Windows, macOS) cannot be handed one through bleak, so a passkey given for it is refused
    (PasskeyUnsupported) before any radio work: the system asks for it in its own dialog or agent.
    """
    if passkey is not None and client_backend is None:
        raise PasskeyUnsupported(
            "--passkey cannot be passed to this computer's Bluetooth stack (bleak has no way to hand it over): "
            "run `anklet pair ADDRESS` without --passkey and type the passkey printed on the band when the "
            "system asks (on Linux a Bluetooth agent must be running: the desktop's, or `bluetoothctl` with "
            "`agent KeyboardOnly` and `default-agent`)")
    device = await find_band(address, min(timeout, 10.0), scanner_backend)
    if device is None:
        raise LinkLost(f"band {address} not found: is it on and close by?")
    client = BleakClient(device, timeout=timeout, backend=client_backend)
    try:
        try:
            await client.connect()
        except BleakError as exc:
            raise LinkLost(f"could not connect to band {address} ({exc}); try again closer to it") from exc
        try:
            if passkey is not None:
                await client.pair(passkey=passkey)
            else:
                await client.pair()
            data = await client.read_gatt_char(STATUS_UUID)
        except BleakError as exc:
            raise BandRefused(f"pairing with {address} failed ({exc}): check the passkey printed on the band, "
                              "and pair within 120 s of switching the band on (its pairing mode)") from exc
        _, state = status_from_frame(bytes(data))
        pairing = Pairing(address=device.address.upper(), uid=state["uid"], name=device.name or "",
                          paired_at=time.time())
        store.add(pairing)
        return pairing
    finally:
        try:
            await client.disconnect()
        except BleakError:
            pass


# -- the link -------------------------------------------------------------------------

class BleakLink(BandLink):
    """The monitor's link to one paired band over bleak.

    `client_backend`/`scanner_backend` are bleak's `backend=` arguments (None: the platform's stack;
    anklet.bumble_band.virtual_pair() gives Bumble ones).
    """

    def __init__(self, pairing: Pairing | None, *, band_id: str | None = None, client_backend: Any = None,
                 scanner_backend: Any = None, scan_timeout: float = 10.0, connect_timeout: float = 10.0,
                 attempts: int = 3, backoff: tuple[float, float] = (0.5, 10.0), liveness_s: float = 20.0,
                 reply_timeout: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.pairing = pairing
        self.band_id = (pairing.address if pairing is not None else band_id or "").upper()
        self.client_backend = client_backend
        self.scanner_backend = scanner_backend
        self.scan_timeout = scan_timeout
        self.connect_timeout = connect_timeout
        self.attempts = attempts
        self.backoff = backoff
        self.liveness_s = liveness_s
        self.reply_timeout = reply_timeout
        self.clock = clock
        self.client: BleakClient | None = None
        self.last_data: float | None = None
        self.last_status: BandStatus | None = None
        self.band_state: dict[str, int] = {}
        self.errors: list[str] = []  # malformed packets and refused commands, newest last (bounded)
        self.gaps: list[Gap] = []  # events of the band's sequence that will never arrive (bounded)
        self.band_lost_total: int | None = None  # the band's running count of events it lost (status frame)
        self._early: list[DeviceEvent] = []
        self._early_hi = -1  # highest seq received ahead, per connection
        self.bad_packets = 0
        self.duplicates = 0
        self.resyncs = 0
        self.skipped = 0
        self.connects = 0
        self.on_raw: Callable[[bytes], None] | None = None
        self._inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._pending: dict[int, asyncio.Future[tuple[int, int, int]]] = {}
        self._token = 0
        self._expected = 0
        self._acked = packet.RESUME_OLDEST  # the last seq the monitor acknowledged (committed)
        self._acked_boot: int | None = None
        self._resyncing = False
        self._resync_for = -1  # the expected seq of the last resync asked for
        self._connected = False

    # -- state --------------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return self._connected and self.client is not None and self.client.is_connected

    def silence(self) -> float | None:
        """Seconds since the last packet from the band (None: never heard from it)."""
        return None if self.last_data is None else self.clock() - self.last_data

    def _error(self, text: str) -> None:
        log.warning("band %s: %s", self.band_id, text)
        self.errors.append(text)
        del self.errors[:-100]

    def _gap(self, first: int | None, last: int | None, cause: str, text: str) -> None:
        count = None if first is None or last is None else last - first + 1
        gap = Gap(first, last, count, cause, text)
        log.error("band %s: %s", self.band_id, text)
        self.errors.append(text)
        del self.errors[:-100]
        self.gaps.append(gap)
        del self.gaps[:-100]
        if self.on_gap is not None:
            self.on_gap(gap)

    def take_early(self) -> list[DeviceEvent]:
        out, self._early = self._early, []
        return out

    # -- connecting ------------------------------------------------------------------

    async def connect(self, resume_after: int | None, resume_boot: int | None = None) -> None:
        if self.pairing is None:
            raise BandRefused(f"band {self.band_id or '?'} is not paired with this computer: run `anklet pair` first")
        delay = self.backoff[0]
        last: Exception | None = None
        for attempt in range(self.attempts):
            try:
                await self._connect_once(resume_after, resume_boot)
                return
            except BandRefused:
                await self._teardown()
                raise
            except (BleakError, LinkError, asyncio.TimeoutError, OSError, packet.PacketError) as exc:
                last = exc
                await self._teardown()
                log.info("connect to %s failed (%s), attempt %d/%d", self.band_id, exc, attempt + 1, self.attempts)
                if attempt + 1 < self.attempts:
                    await asyncio.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, self.backoff[1])
        raise LinkLost(f"cannot reach band {self.band_id} after {self.attempts} attempts: {last}. "
                       "Is it charged, within a few metres, and not connected to another computer?") from last

    async def _connect_once(self, resume_after: int | None, resume_boot: int | None) -> None:
        await self._teardown()
        self._inbox = asyncio.Queue()
        device = await find_band(self.band_id, self.scan_timeout, self.scanner_backend)
        if device is None:
            raise LinkLost(f"band {self.band_id} not found")
        try:
            # bleak-retry-connector knows the transient errors of real Bluetooth stacks (BlueZ's "le-connection-
            # abort-by-local", a busy adapter) and retries those at once; anything else reaches the monitor, which
            # owns the backoff between connection attempts.
            client = await establish_connection(BleakClient, device, self.band_id or device.address,
                                                disconnected_callback=self._on_disconnect,
                                                max_attempts=CONNECT_TRIES, use_services_cache=False,
                                                timeout=self.connect_timeout, backend=self.client_backend)
        except BleakError as exc:
            if "stored bond" in str(exc):  # the backend's word for "the peer lacks our key"
                raise BandRefused(f"band {self.band_id} could not prove the bond made when pairing ({exc}); "
                                  "refusing it. If you reset the band, pair it again with `anklet pair`.") from exc
            raise
        self.client = client
        self._connected = True
        try:
            # Reading the status needs an encrypted, bonded link: proof this is a band we paired with.
            data = await client.read_gatt_char(STATUS_UUID)
        except BleakGATTProtocolError as exc:
            if exc.code in _SECURITY_CODES:
                raise BandRefused(f"band {self.band_id} has no bond with this computer ({exc}); "
                                  "pair it with `anklet pair`") from exc
            raise
        status, state = status_from_frame(bytes(data))
        if state["uid"] != self.pairing.uid:  # type: ignore[union-attr]
            raise BandRefused(f"device at {self.band_id} is band {state['uid']:012x}, not the paired band "
                              f"{self.pairing.uid:012x}: refusing it")  # type: ignore[union-attr]
        self.last_status, self.band_state = status, state
        self.last_data = self.clock()
        await client.start_notify(CONTROL_UUID, self._on_control)
        await client.start_notify(STATUS_UUID, self._on_status)
        await client.start_notify(EVENTS_UUID, self._on_event)
        self._early_hi = -1
        if client.services.get_characteristic(ALERTS_UUID) is not None:
            await client.start_notify(ALERTS_UUID, self._on_alert)
        if self.on_raw is not None:
            await client.start_notify(RAW_UUID, lambda _c, d: self.on_raw(bytes(d)))  # type: ignore[misc]
        after = packet.RESUME_OLDEST if resume_after is None else resume_after
        if resume_boot is None and resume_after is not None and resume_after == self._acked:
            resume_boot = self._acked_boot  # what this link acknowledged last
        boot = packet.BOOT_UNKNOWN if resume_boot is None else resume_boot & 0xFFFF
        try:
            start = await self.command(packet.OP_RESUME, after, boot)
        except CommandError as exc:
            if exc.code != packet.ERR_VALUE:
                raise
            # The band cannot show it wrote what the log ends with: wiped, re-flashed or another band.
            # Take everything it holds; whatever it had not sent before is lost, how much is unknown.
            start = await self.command(packet.OP_RESUME, packet.RESUME_OLDEST, packet.BOOT_UNKNOWN)
            self._gap(None, None, "wiped",
                      f"the band does not hold the event this log ends with (seq {after}, boot {boot}): it was "
                      "wiped, re-flashed or replaced; any events it had not sent before are lost (how many is "
                      f"unknown). Its events from seq {start} on are taken as new.")
            after = packet.RESUME_OLDEST
        if after != packet.RESUME_OLDEST and start > after + 1:
            self._gap(after + 1, start - 1, "band",
                      f"the band no longer holds events {after + 1} to {start - 1} ({start - 1 - after} events "
                      "lost on the band; its DROPPED report says why: queue full, or damaged flash)")
        self._expected = start
        self._acked = after
        self._acked_boot = None if after == packet.RESUME_OLDEST or boot == packet.BOOT_UNKNOWN else boot
        self._resyncing = False
        self.connects += 1
        try:
            await self.command(packet.OP_TIME, *_now_unix())
        except CommandError as exc:
            self._error(str(exc))

    async def _teardown(self) -> None:
        client, self.client = self.client, None
        self._connected = False
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(LinkLost("link closed"))
        self._pending.clear()
        if client is not None:
            try:
                await client.disconnect()
            except (BleakError, OSError, asyncio.TimeoutError):
                pass

    async def disconnect(self) -> None:
        await self._teardown()

    # -- notifications: only record, the consumer works -------------------------------

    def _on_disconnect(self, client: Any) -> None:
        if client is not None and client is not self.client:
            return  # an earlier connection of ours, already torn down
        self._connected = False
        self._inbox.put_nowait(("lost", "the band disconnected"))
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(LinkLost("link lost while waiting for the band's answer"))
        self._pending.clear()

    def _on_event(self, _char: Any, data: bytearray) -> None:
        self.last_data = self.clock()
        self._inbox.put_nowait(("event", bytes(data)))

    def _on_alert(self, _char: Any, data: bytearray) -> None:
        # An alarm-relevant event ahead of the in-order stream (the band's window is full). For decisions
        # only: it is not delivered by next_event now, it comes again in order to be logged.
        self.last_data = self.clock()
        try:
            seq, boot, kind, t_ms, values = packet.decode(bytes(data))
            event = DeviceEvent.from_record((kind, t_ms, *values), seq, boot)
        except (packet.PacketError, ValueError) as exc:
            self.bad_packets += 1
            self._error(f"bad alert packet: {exc}: dropped")
            return
        if seq < self._expected or seq <= self._early_hi:
            return  # already delivered in order, or already heard ahead
        self._early_hi = seq
        self._early.append(event)
        del self._early[:-256]
        if self.on_early is not None:
            self.on_early(event)

    def _take_status(self, data: bytes) -> None:
        """Record a status frame; a bad one is counted and reported, then its PacketError raised."""
        self.last_data = self.clock()
        try:
            self.last_status, self.band_state = status_from_frame(data)
        except packet.PacketError as exc:
            self.bad_packets += 1
            self._error(f"bad status frame: {exc}")
            raise
        self.band_lost_total = self.band_state.get("dropped")

    def _on_status(self, _char: Any, data: bytearray) -> None:
        with contextlib.suppress(packet.PacketError):  # counted and reported by _take_status
            self._take_status(bytes(data))

    def _on_control(self, _char: Any, data: bytearray) -> None:
        self.last_data = self.clock()
        try:
            op, token, code, value = packet.decode_reply(bytes(data))
        except packet.PacketError as exc:
            self.bad_packets += 1
            self._error(f"bad reply frame: {exc}")
            return
        fut = self._pending.pop(token, None)
        if fut is not None and not fut.done():
            fut.set_result((op, code, value))
        elif code != packet.ERR_OK:
            self._error(str(CommandError(op, code)))
        if op == packet.OP_RESUME and code == packet.ERR_OK:
            self._inbox.put_nowait(("resync", value))  # in order with the events around it

    # -- commands -------------------------------------------------------------------------

    async def command(self, op: int, *args: int) -> int:
        """Send a control command and wait for the band's answer; returns its value or raises CommandError."""
        client = self._need()
        self._token = (self._token + 1) & 0xFF
        token = self._token
        fut: asyncio.Future[tuple[int, int, int]] = asyncio.get_running_loop().create_future()
        self._pending[token] = fut
        try:
            await client.write_gatt_char(CONTROL_UUID, packet.encode_control(op, token, *args), response=True)
            _op, code, value = await asyncio.wait_for(fut, self.reply_timeout)
        except asyncio.TimeoutError as exc:
            raise LinkLost(f"band did not answer command {op} within {self.reply_timeout} s") from exc
        except BleakError as exc:
            raise self._lost_or(exc) from exc
        finally:
            self._pending.pop(token, None)
        if code != packet.ERR_OK:
            raise CommandError(op, code)
        return value

    def _need(self) -> BleakClient:
        if self.client is None or not self.is_connected:
            raise LinkLost(f"not connected to band {self.band_id}")
        return self.client

    def _lost_or(self, exc: Exception) -> LinkError:
        if not self.is_connected:
            return LinkLost(f"link to band {self.band_id} lost: {exc}")
        return LinkError(f"band {self.band_id}: {exc}")

    async def ack(self, boot: int, seq: int) -> None:
        client = self._need()
        self._token = (self._token + 1) & 0xFF
        try:
            # Fire and forget: the band answers only to say something is wrong (see _on_control).
            await client.write_gatt_char(CONTROL_UUID, packet.encode_control(packet.OP_ACK, self._token, seq, boot),
                                         response=True)
        except BleakError as exc:
            raise self._lost_or(exc) from exc
        self._acked = seq
        self._acked_boot = boot

    async def status(self) -> BandStatus:
        client = self._need()
        try:
            data = await client.read_gatt_char(STATUS_UUID)
        except BleakError as exc:
            raise self._lost_or(exc) from exc
        try:
            self._take_status(bytes(data))
        except packet.PacketError as exc:
            raise LinkError(f"band {self.band_id} sent a bad status frame: {exc}") from exc
        return self.last_status

    async def set_raw(self, on: bool) -> int:
        """Raw streaming on/off; returns samples per frame."""
        return await self.command(packet.OP_RAW, 1 if on else 0)

    # -- events ---------------------------------------------------------------------------

    async def next_event(self, timeout: float) -> DeviceEvent | None:
        deadline = self.clock() + timeout
        while True:
            remaining = deadline - self.clock()
            if self._inbox.empty():
                if not self.is_connected:
                    raise LinkLost(f"link to band {self.band_id} is down")
                quiet = self.silence()
                if quiet is not None and quiet > self.liveness_s:
                    await self._teardown()
                    raise LinkLost(f"no data from band {self.band_id} for {quiet:.0f} s")
                if remaining <= 0:
                    return None
                try:
                    wait = min(remaining, self.liveness_s)
                    kind, item = await asyncio.wait_for(self._inbox.get(), wait)
                except asyncio.TimeoutError:
                    continue
            else:  # take what is there without waiting (wait_for(..., 0) would never get it)
                kind, item = self._inbox.get_nowait()
            if kind == "lost":
                self._connected = False
                raise LinkLost(f"link to band {self.band_id} lost: {item}")
            if kind == "resync":
                # The band resends from `item`; what we already delivered comes again and is dropped.
                if item > self._expected:
                    self._gap(self._expected, item - 1, "band",
                              f"the band no longer holds events {self._expected} to {item - 1} "
                              f"({item - self._expected} events lost on the band; its DROPPED report says why)")
                self._expected = max(self._expected, item)
                self._resyncing = False
                continue
            event = await self._take(item)
            if event is not None:
                return event

    async def _take(self, data: bytes) -> DeviceEvent | None:
        if len(data) != packet.SIZE:
            self.bad_packets += 1
            self._error(f"event packet of {len(data)} bytes, need {packet.SIZE}: dropped")
            return None
        try:
            seq, boot, kind, t_ms, values = packet.decode(data)
        except packet.PacketError as exc:
            self.bad_packets += 1
            self._error(f"bad event packet: {exc}: dropped")
            return None
        if self._resyncing:
            return None  # the band is resending from our last good seq; drop what was in flight
        if seq < self._expected:
            self.duplicates += 1  # a resend or a replay of something already delivered
            return None
        if seq > self._expected and self._resync_for == self._expected:
            # We asked for this gap to be filled once and the band skipped it again: it cannot send those.
            self._gap(self._expected, seq - 1, "unsendable",
                      f"the band could not send events {self._expected} to {seq - 1} ({seq - self._expected} "
                      "events lost on the band: unreadable in its flash)")
            self._expected = seq
        if seq > self._expected:
            # A gap: notifications lost or the band skipped ahead. Ask it to resend from what we have.
            self._resync_for = self._expected
            self.resyncs += 1
            self._resyncing = True
            try:
                # Resend from the last *committed* seq: RESUME releases what it names, so never more.
                await self.command(packet.OP_RESUME, self._acked,
                                   packet.BOOT_UNKNOWN if self._acked_boot is None else self._acked_boot)
            except CommandError as exc:
                self._gap(self._expected, seq - 1, "band",
                          f"resync refused ({exc}): events {self._expected} to {seq - 1} are lost on the band")
                self._resyncing = False
                self._expected = seq  # the band no longer holds the missing ones: accept the gap
                return await self._take(data)
            return None
        self._expected = seq + 1
        try:
            return DeviceEvent.from_record((kind, t_ms, *values), seq, boot)
        except ValueError as exc:
            self.skipped += 1
            self._error(f"event seq {seq}: {exc} (newer firmware?): skipped")
            return None


def _now_unix() -> tuple[int, int]:
    t = time.time()
    return int(t) & 0xFFFFFFFF, int((t % 1) * 1000)


def open_link(band: str | None = None, *, store: PairingStore | None = None, **kwargs: Any) -> BleakLink:
    """The link `anklet monitor` uses: the paired band `band` (address or name), or the only paired band."""
    from .cli import CliError

    store = store or PairingStore()
    bands = store.all()
    if band is not None:
        match = [p for p in bands if band.upper() in (p.address.upper(), p.name.upper())]
        if not match:
            raise CliError(f"band {band} is not paired with this computer: run `anklet pair {band}` first "
                           f"(paired: {', '.join(p.address for p in bands) or 'none'})")
        return BleakLink(match[0], **kwargs)
    if not bands:
        raise CliError("no band is paired with this computer: run `anklet scan`, then `anklet pair ADDRESS`")
    if len(bands) > 1:
        raise CliError("several bands are paired; choose one with --band: " + ", ".join(
            f"{p.address} ({p.name})" for p in bands))
    return BleakLink(bands[0], **kwargs)
