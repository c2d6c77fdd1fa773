"""MicroPython's `bluetooth.BLE` API on a Bumble device, and a band and host on one virtual radio.

The band's radio code (anklet_fw.radio) is written against MicroPython's
`bluetooth.BLE`. `BumbleBLE` offers that API (the subset the radio uses: GATT server,
advertising, notifications, pairing with passkey, bonding secrets through
_IRQ_GET_SECRET/_IRQ_SET_SECRET) on a Bumble `Device` whose virtual controller sits on
a `bumble.link.LocalLink`, so the firmware file runs unchanged on a computer and
talks real BLE (ATT, SMP, LE Secure Connections) to the host's bleak code.

    pair = await virtual_pair()                  # one LocalLink, a band device, a host device
    radio = start_radio(pair, queue, pairing_s=60)  # anklet_fw.radio.Radio on pair.band_ble, running
    pairing = await bond(pair, PairingStore(path))  # what `anklet pair` does
    link = link_for(pair, pairing)               # a BleakLink through pair.central's bleak backends
    await link.connect(resume_after=None)        # ... then next_event / ack as the monitor does

`pair.drop()` simulates a radio loss (supervision timeout on both sides);
`pair.restart_host()` replaces the host's Bumble device, as when the host process
restarts, keeping its bonds in `host_keys` (a JSON key store file when given).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from bumble import att, gatt, hci
from bumble.controller import Controller
from bumble.core import UUID
from bumble.device import AdvertisingType, Connection, Device
from bumble.host import Host
from bumble.keys import KeyStore, MemoryKeyStore, PairingKeys
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

from .bumble_backend import BumbleCentral

log = logging.getLogger(__name__)

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_MTU_EXCHANGED = 21
_IRQ_ENCRYPTION_UPDATE = 28
_IRQ_GET_SECRET = 29
_IRQ_SET_SECRET = 30
_IRQ_PASSKEY_ACTION = 31
_PASSKEY_ACTION_DISP = 3

_SEC_KEYS = 1  # sec_type under which the adapter stores a peer's pairing keys (JSON)

_IO_MAP = {
    0: PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY,
    1: PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_YES_NO_INPUT,
    2: PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY,
    3: PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT,
    4: PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_KEYBOARD_INPUT,
}

CCCD = gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR


def _uuid(value: Any) -> UUID:
    if isinstance(value, int):
        return UUID.from_16_bits(value)
    return UUID(str(value))


def _authenticated(keys: PairingKeys | None) -> bool:
    if keys is None:
        return False
    return any(k is not None and k.authenticated for k in (keys.ltk, keys.ltk_central, keys.ltk_peripheral))


class _IrqKeyStore(KeyStore):
    """Bumble's key store, kept by the application through _IRQ_GET_SECRET/_IRQ_SET_SECRET as on MicroPython."""

    def __init__(self, ble: BumbleBLE) -> None:
        self.ble = ble

    async def update(self, name: str, keys: PairingKeys) -> None:
        old = await self.get(name)
        merged = keys.to_dict()
        if old is not None:
            merged = {**old.to_dict(), **merged}
        self.ble._call(_IRQ_SET_SECRET, (_SEC_KEYS, name.encode(), json.dumps(merged).encode()))

    async def get(self, name: str) -> PairingKeys | None:
        value = self.ble._call(_IRQ_GET_SECRET, (_SEC_KEYS, None, name.encode()))
        return None if value is None else PairingKeys.from_dict(json.loads(bytes(value)))

    async def delete(self, name: str) -> None:
        self.ble._call(_IRQ_SET_SECRET, (_SEC_KEYS, name.encode(), None))

    async def get_all(self) -> list[tuple[str, PairingKeys]]:
        # The MicroPython secret API enumerates values only; the peer name is stored inside them.
        return []


class _BandDelegate(PairingDelegate):
    def __init__(self, ble: BumbleBLE, connection: Connection, io: PairingDelegate.IoCapability) -> None:
        super().__init__(io_capability=io)
        self.ble = ble
        self.connection = connection

    async def generate_passkey(self) -> int:
        # MicroPython: _IRQ_PASSKEY_ACTION(DISPLAY), answered with gap_passkey(conn, action, passkey).
        fut = asyncio.get_running_loop().create_future()
        self.ble._passkeys[self.connection.handle] = fut
        self.ble._call(_IRQ_PASSKEY_ACTION, (self.connection.handle, _PASSKEY_ACTION_DISP, 0))
        try:
            return await asyncio.wait_for(fut, 30)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            return secrets.randbelow(1000000)  # unanswered: a number the peer cannot know
        finally:
            self.ble._passkeys.pop(self.connection.handle, None)


class BumbleBLE:
    """The subset of MicroPython's `bluetooth.BLE` that a GATT peripheral uses, on a Bumble `Device`."""

    UUID = staticmethod(_uuid)

    def __init__(self, device: Device) -> None:
        self.device = device
        self._handler = None
        self._values: dict[int, bytearray] = {}
        self._limits: dict[int, int] = {}
        self._chars: dict[int, gatt.Characteristic] = {}
        self._conns: dict[int, Connection] = {}
        self._passkeys: dict[int, asyncio.Future] = {}
        self._pairing: set[int] = set()  # connections with a pairing under way
        self._tasks: set[asyncio.Task] = set()
        self._io = 3
        self._name = "MPY BTSTACK"
        self._active = False
        self.irq_errors: list[BaseException] = []
        device.keystore = _IrqKeyStore(self)
        device.pairing_config_factory = self._pairing_config
        device.on("connection", self._on_connection)

    # -- module-level API ------------------------------------------------------------

    def active(self, *args: Any) -> bool:
        if args:
            self._active = bool(args[0])
        return self._active

    def config(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            name = args[0]
            if name == "mac":
                return (1, bytes(reversed(bytes(self.device.random_address))))
            if name == "gap_name":
                return self._name
            if name == "io":
                return self._io
            raise ValueError(f"unknown config {name!r}")
        for key, value in kwargs.items():
            if key == "gap_name":
                self._name = value
                self.device.name = value
            elif key == "io":
                if value not in _IO_MAP:
                    raise ValueError(f"bad io capability {value}")
                self._io = value
            elif key not in ("bond", "mitm", "le_secure", "mtu", "addr_mode", "rxbuf", "interval"):
                raise ValueError(f"unknown config {key!r}")
        return None

    def irq(self, handler: Any) -> None:
        self._handler = handler

    def _call(self, event: int, data: tuple) -> Any:
        if self._handler is None:
            return None
        try:
            return self._handler(event, data)
        except Exception as exc:  # MicroPython prints and carries on; we keep it for the tests
            log.exception("IRQ handler failed on event %d", event)
            self.irq_errors.append(exc)
            return None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("bumble task failed: %r", task.exception())

    # -- GAP -------------------------------------------------------------------------

    def gap_advertise(self, interval_us: int | None, adv_data: bytes | None = None, resp_data: bytes | None = None,
                      connectable: bool = True) -> None:
        if interval_us is None:
            self._spawn(self.device.stop_advertising())
            return
        kind = (AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE if connectable
                else AdvertisingType.UNDIRECTED_SCANNABLE)
        self._spawn(self.device.start_advertising(
            advertising_type=kind,
            advertising_data=bytes(adv_data) if adv_data is not None else None,
            scan_response_data=bytes(resp_data) if resp_data is not None else None,
            advertising_interval_min=max(20.0, interval_us / 1000),
            advertising_interval_max=max(20.0, interval_us / 1000),
        ))

    def gap_disconnect(self, conn_handle: int) -> bool:
        conn = self._conns.get(conn_handle)
        if conn is None:
            return False
        self._spawn(conn.disconnect())
        return True

    def gap_pair(self, conn_handle: int) -> None:
        conn = self._conns[conn_handle]
        self._spawn(conn.pair())

    def gap_passkey(self, conn_handle: int, action: int, passkey: int) -> None:
        fut = self._passkeys.get(conn_handle)
        if fut is not None and not fut.done():
            fut.set_result(int(passkey))

    # -- GATT server -----------------------------------------------------------------

    def gatts_register_services(self, definitions: Any) -> tuple:
        out = []
        for svc_uuid, chars in definitions:
            made = []
            for spec in chars:
                c_uuid, flags = spec[0], spec[1]
                props = gatt.Characteristic.Properties(flags & 0xFF)
                perm = att.Attribute.Permissions(0)
                if flags & 0x0002:
                    perm |= att.Attribute.Permissions.READABLE
                if flags & 0x000C:
                    perm |= att.Attribute.Permissions.WRITEABLE
                if flags & 0x0200:
                    perm |= att.Attribute.Permissions.READ_REQUIRES_ENCRYPTION
                if flags & 0x0400:
                    perm |= att.Attribute.Permissions.READ_REQUIRES_AUTHENTICATION
                if flags & 0x1000:
                    perm |= att.Attribute.Permissions.WRITE_REQUIRES_ENCRYPTION
                if flags & 0x2000:
                    perm |= att.Attribute.Permissions.WRITE_REQUIRES_AUTHENTICATION
                descriptors = []
                if flags & 0x0030 and flags & 0x3600:
                    # Subscribing needs the same security as the value (NimBLE does this for us on the band).
                    cperm = (att.Attribute.Permissions.READABLE | att.Attribute.Permissions.WRITEABLE
                             | att.Attribute.Permissions.READ_REQUIRES_ENCRYPTION
                             | att.Attribute.Permissions.WRITE_REQUIRES_ENCRYPTION)
                    descriptors.append(gatt.Descriptor(CCCD, cperm, b"\x00\x00"))
                char = gatt.Characteristic(_uuid(c_uuid), props, perm, b"", descriptors)
                char.value = gatt.CharacteristicValue(
                    read=lambda conn, c=char: bytes(self._values.get(c.handle, b"")),
                    write=lambda conn, value, c=char: self._on_write(c, conn, value),
                )
                made.append(char)
            service = gatt.Service(_uuid(svc_uuid), made)
            self.device.add_service(service)
            handles = []
            for char in made:
                for d in char.descriptors:
                    if d.type == CCCD:
                        d.value = self.device.gatt_server.make_descriptor_value(char)
                self._chars[char.handle] = char
                self._values[char.handle] = bytearray()
                self._limits[char.handle] = 20
                handles.append(char.handle)
            out.append(tuple(handles))
        return tuple(out)

    def gatts_set_buffer(self, value_handle: int, length: int, append: bool = False) -> None:
        self._limits[value_handle] = length

    def gatts_read(self, value_handle: int) -> bytes:
        return bytes(self._values[value_handle])

    def gatts_write(self, value_handle: int, data: bytes, send_update: bool = False) -> None:
        self._values[value_handle] = bytearray(data)
        if send_update:
            for h in list(self._conns):
                self.gatts_notify(h, value_handle)

    def gatts_notify(self, conn_handle: int, value_handle: int, data: bytes | None = None) -> None:
        conn = self._conns.get(conn_handle)
        if conn is None:
            raise OSError(107, "ENOTCONN")
        value = bytes(self._values[value_handle] if data is None else data)
        value = value[: conn.att_mtu - 3]  # as the stack does: truncated to the MTU
        pdu = att.ATT_Handle_Value_Notification(attribute_handle=value_handle, attribute_value=value)
        # Synchronous, so notifications leave in the order the radio sent them.
        self.device.gatt_server.send_gatt_pdu(conn, bytes(pdu))

    def _on_write(self, char: gatt.Characteristic, conn: Connection, value: bytes) -> None:
        if len(value) > self._limits.get(char.handle, 20):
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH, char.handle)
        self._values[char.handle] = bytearray(value)
        self._call(_IRQ_GATTS_WRITE, (conn.handle, char.handle))

    # -- connection events -----------------------------------------------------------

    def _pairing_config(self, connection: Connection) -> PairingConfig:
        # A random static identity address, the one it advertises with, so bonds are keyed by what peers see.
        return PairingConfig(sc=True, mitm=True, bonding=True,
                             delegate=_BandDelegate(self, connection, _IO_MAP[self._io]),
                             identity_address_type=PairingConfig.AddressType.RANDOM)

    def _on_connection(self, conn: Connection) -> None:
        if conn.role != hci.Role.PERIPHERAL:
            return
        h = conn.handle
        self._conns[h] = conn
        addr = bytes(reversed(bytes(conn.peer_address)))
        conn.on("disconnection", lambda reason: self._on_disconnection(h, addr))
        conn.on("connection_att_mtu_update", lambda: self._call(_IRQ_MTU_EXCHANGED, (h, conn.att_mtu)))
        conn.on("connection_encryption_change", lambda: self._spawn(self._encryption_update(conn)))
        conn.on("pairing_start", lambda: self._pairing.add(h))
        conn.on("pairing_failure", lambda reason: self._pairing.discard(h))
        conn.on("pairing", lambda keys: self._spawn(self._paired(conn, keys)))
        self._call(_IRQ_CENTRAL_CONNECT, (h, conn.peer_address.address_type, addr))

    async def _paired(self, conn: Connection, keys: PairingKeys) -> None:
        # As NimBLE reports a finished pairing: authenticated if a passkey was used; bonded only if the
        # application stored the keys (the band refuses them from a pairing it did not allow).
        self._pairing.discard(conn.handle)
        stored = await self.device.keystore.get(str(conn.peer_address))
        self._call(_IRQ_ENCRYPTION_UPDATE, (conn.handle, bool(conn.is_encrypted), _authenticated(keys),
                                            stored is not None, 16))

    async def _encryption_update(self, conn: Connection) -> None:
        if conn.handle in self._pairing:
            return  # encrypted by a pairing still under way: NimBLE reports it when the pairing ends (_paired)
        keys = await self.device.keystore.get(str(conn.peer_address))
        if keys is None:
            return  # not encrypted with a stored bond (nothing to report until a pairing ends)
        self._call(_IRQ_ENCRYPTION_UPDATE, (conn.handle, bool(conn.is_encrypted), _authenticated(keys),
                                            keys is not None, conn.encryption_key_size or 16))

    def _on_disconnection(self, h: int, addr: bytes) -> None:
        self._conns.pop(h, None)
        self._pairing.discard(h)
        fut = self._passkeys.pop(h, None)
        if fut is not None and not fut.done():
            fut.cancel()
        self._call(_IRQ_CENTRAL_DISCONNECT, (h, 1, addr))


async def make_device(link: LocalLink, address: str, name: str) -> Device:
    """A powered-on Bumble device with its own virtual controller on `link`."""
    controller = Controller(name, link=link, public_address=address)
    device = Device(name=name, address=hci.Address(address), host=Host(controller, AsyncPipeSink(controller)))
    device.controller = controller  # type: ignore[attr-defined]  # kept for drop()
    return device


async def make_band_ble(link: LocalLink, address: str = "F0:F1:F2:F3:F4:F5", name: str = "anklet") -> BumbleBLE:
    device = await make_device(link, address, name)
    ble = BumbleBLE(device)
    await device.power_on()
    return ble


def drop_connections(*devices: Device, reason: int = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR) -> int:
    """Cut every LE connection of these devices at the controller, as a supervision timeout does."""
    n = 0
    for device in devices:
        controller = device.controller  # type: ignore[attr-defined]
        for conn in list(controller.le_connections.values()):
            controller.on_le_disconnected(conn, reason)
            n += 1
    return n


def _half_open(link: LocalLink) -> list[tuple[Controller, Any]]:
    """LE connections whose other end has no matching connection (it dropped, or never completed)."""
    out = []
    for c in list(link.controllers):
        for conn in list(c.le_connections.values()):
            me, peer = bytes(conn.self_address), bytes(conn.peer_address)
            if not any(bytes(o.self_address) == peer and bytes(o.peer_address) == me
                       for other in link.controllers if other is not c for o in other.le_connections.values()):
                out.append((c, conn))
    return out


async def supervise(link: LocalLink, timeout_s: float) -> None:
    """The supervision timeout the virtual controllers lack: end a connection whose peer has been gone for
    `timeout_s` (a drop racing a connection set-up can leave one end connected on a LocalLink)."""
    seen: dict[tuple[int, int], float] = {}
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(timeout_s / 4)
        now = loop.time()
        current = set()
        for c, conn in _half_open(link):
            key = (id(c), conn.handle)
            current.add(key)
            if now - seen.setdefault(key, now) >= timeout_s and conn in c.le_connections.values():
                c.on_le_disconnected(conn, hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
        seen = {k: v for k, v in seen.items() if k in current}


@dataclass
class VirtualPair:
    """A band-side `BumbleBLE` and a host-side `BumbleCentral` on one `LocalLink`."""

    link: LocalLink
    band_ble: BumbleBLE
    central: BumbleCentral
    passkey: int
    host_address: str
    host_keys: str | None
    host_store: KeyStore | None = None
    supervisor: asyncio.Task | None = None

    @property
    def band_address(self) -> str:
        return str(self.band_ble.device.random_address)

    def drop(self) -> bool:
        """Radio loss: both ends see the link time out. True if there was a connection to drop."""
        return drop_connections(self.band_ble.device, self.central.device) > 0

    async def restart_host(self) -> BumbleCentral:
        """Throw away the host's Bumble device and make a new one, as a restarted host process would.

        The band sees its link to the dead host time out (supervision timeout), as it would on air.
        """
        await self.central.close()
        drop_connections(self.band_ble.device)
        self.central = BumbleCentral(self.link, self.host_address, keystore_path=self.host_keys,
                                     keystore=self.host_store)
        await self.central.start()
        return self.central

    async def close(self) -> None:
        if self.supervisor is not None:
            self.supervisor.cancel()
        await self.central.close()
        drop_connections(self.band_ble.device)
        for task in list(self.band_ble._tasks):
            task.cancel()


async def virtual_pair(band_address: str = "F0:F1:F2:F3:F4:F5", host_address: str = "E0:E1:E2:E3:E4:E5",
                       band_name: str = "anklet-test", passkey: int = 246810,
                       host_keys: str | None = None, supervision_s: float = 0.4) -> VirtualPair:
    """Make a LocalLink with a band device (MicroPython API) and a host device (bleak backends).

    Give the band's radio `pair.band_ble` and `pair.passkey`; give the host's BleakLink/BleakClient
    `backend=pair.central.client_backend` (and BleakScanner `backend=pair.central.scanner_backend`).
    `host_keys` is a file for the host's bonds (a restarted host keeps them); None keeps them in memory
    for the life of the pair.
    """
    link = LocalLink()
    band = await make_band_ble(link, band_address, band_name)
    store = None if host_keys else MemoryKeyStore()  # in memory: shared by the restarted hosts of this pair
    central = BumbleCentral(link, host_address, keystore_path=host_keys, keystore=store)
    await central.start()
    pair = VirtualPair(link, band, central, passkey, host_address, host_keys, store)
    pair.supervisor = asyncio.get_running_loop().create_task(supervise(link, supervision_s))
    return pair


def start_radio(pair: VirtualPair, queue: Any, boot: int = 1, uid: int = 0xA0B1C2D3E4F5, pairing_s: float = 0,
                **kwargs: Any) -> Any:
    """Run the band's firmware radio (anklet_fw.radio.Radio) on `pair.band_ble`; returns it (task in `.task`).

    `queue` is the band's EventQueue; after queue.append(rec) call radio.kick(). `pairing_s` > 0 puts the band
    in pairing mode for that long (needed once, for bond()).
    """
    from anklet_fw.radio import Radio

    radio = Radio(pair.band_ble, queue, boot, name=pair.band_ble.device.name, passkey=pair.passkey, uid=uid,
                  **kwargs)
    if pairing_s:
        radio.set_pairing(pairing_s)
    radio.task = asyncio.get_running_loop().create_task(radio.run())  # type: ignore[attr-defined]
    return radio


async def bond(pair: VirtualPair, pairings: Any) -> Any:
    """Pair the host with the band as `anklet pair` does (the band must be in pairing mode); returns the Pairing."""
    from .link.bleak_link import pair_band

    return await pair_band(pair.band_address, pair.passkey, pairings, client_backend=pair.central.client_backend,
                           scanner_backend=pair.central.scanner_backend, timeout=5.0)


def link_for(pair: VirtualPair, pairing: Any, **kwargs: Any) -> Any:
    """A BleakLink to the band through this pair's current host device (make a new one after restart_host())."""
    from .link.bleak_link import BleakLink

    opts: dict[str, Any] = {"scan_timeout": 2.0, "connect_timeout": 5.0, "backoff": (0.05, 0.5)}
    opts.update(kwargs)
    return BleakLink(pairing, client_backend=pair.central.client_backend, scanner_backend=pair.central.scanner_backend,
                     **opts)
