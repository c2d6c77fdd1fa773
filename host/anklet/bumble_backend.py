"""A bleak backend on a Bumble device: the host's real bleak code over a virtual (or Bumble-driven) radio.

bleak picks its platform backend unless given `backend=`; `BumbleCentral` makes a
Bumble `Device` with a virtual controller on a `LocalLink` and hands out
`scanner_backend` and `client_backend` classes bound to it:

    central = BumbleCentral(link, "E0:E1:E2:E3:E4:E5")
    await central.start()
    async with BleakScanner(backend=central.scanner_backend) as scanner: ...
    client = BleakClient(address, backend=central.client_backend)
    await client.connect(); await client.pair(passkey=123456)

Security follows a desktop stack: connecting to a bonded peer encrypts with the
stored key (a peer that cannot prove the key is refused with BleakError);
`pair(passkey=...)` runs LE Secure Connections pairing with passkey entry and stores
the bond; an unbonded connection stays unencrypted and the band's secured
characteristics answer with ATT errors (BleakGATTProtocolError).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, core, hci
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import Connection, Device, Peer
from bumble.host import Host
from bumble.keys import JsonKeyStore, KeyStore, MemoryKeyStore
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

log = logging.getLogger(__name__)

_PROPS = ("broadcast", "read", "write-without-response", "write", "notify", "indicate",
          "authenticated-signed-writes", "extended-properties")


class _HostDelegate(PairingDelegate):
    """The host can type the passkey printed on the band."""

    def __init__(self, passkey: int | None) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY)
        self.passkey = passkey

    async def get_number(self) -> int | None:
        return self.passkey  # None: refuse (no passkey given)

    async def confirm(self, auto: bool = False) -> bool:
        return True


class BumbleCentral:
    """The host's Bumble device and the bleak backend classes bound to it."""

    def __init__(self, link: LocalLink | None, address: str, keystore_path: str | None = None,
                 keystore: KeyStore | None = None, name: str = "anklet-host", hci: tuple[Any, Any] | None = None) -> None:
        """On `link` with a virtual controller of its own, or (link None) on the controller behind the HCI
        transport `hci` = (source, sink), e.g. bumble.transport.open_transport("tcp-client:HOST:PORT")."""
        self.link = link
        self.hci = hci
        self.address = address
        self.name = name
        self.keystore: KeyStore = keystore or (JsonKeyStore(address, keystore_path) if keystore_path
                                               else MemoryKeyStore())
        self.device: Device | None = None
        self.controller: Controller | None = None
        self.passkey: int | None = None
        self._scanners = 0
        self.scanner_backend: type[BaseBleakScanner] = type(
            "BumbleScannerBackend", (BumbleScanner,), {"central": self})
        self.client_backend: type[BaseBleakClient] = type(
            "BumbleClientBackend", (BumbleClient,), {"central": self})

    async def start(self) -> None:
        if self.hci is not None:
            self.device = Device.with_hci(self.name, hci.Address(self.address), *self.hci)
        else:
            self.controller = Controller(self.name, link=self.link, public_address=self.address)
            self.device = Device(name=self.name, address=hci.Address(self.address),
                                 host=Host(self.controller, AsyncPipeSink(self.controller)))
        self.device.keystore = self.keystore
        self.device.controller = self.controller  # type: ignore[attr-defined]  # for drop_connections()
        self.device.pairing_config_factory = lambda conn: PairingConfig(
            sc=True, mitm=True, bonding=True, delegate=_HostDelegate(self.passkey),
            identity_address_type=PairingConfig.AddressType.RANDOM)
        await self.device.power_on()

    async def close(self) -> None:
        if self.device is None or self.controller is None or self.link is None:
            self.device = None
            return
        for conn in list(self.controller.le_connections.values()):
            self.controller.on_le_disconnected(conn, hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
        if self.controller in self.link.controllers:
            self.link.remove_controller(self.controller)
        self.device = None

    async def start_scanning(self) -> None:
        assert self.device is not None
        self._scanners += 1
        if self._scanners == 1:
            await self.device.start_scanning(active=True, filter_duplicates=False)

    async def stop_scanning(self) -> None:
        self._scanners = max(0, self._scanners - 1)
        if self._scanners == 0 and self.device is not None and self.device.is_scanning:
            await self.device.stop_scanning()


def _adv_data(adv: Any) -> tuple[str | None, AdvertisementData]:
    data: AdvertisingData = adv.data
    name = data.get(AdvertisingData.Type.COMPLETE_LOCAL_NAME) or data.get(
        AdvertisingData.Type.SHORTENED_LOCAL_NAME)
    uuids: list[str] = []
    for t in (AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
              AdvertisingData.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
              AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
              AdvertisingData.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS):
        for u in data.get(t) or []:
            uuids.append(_uuid_str(u))
    manu = {}
    m = data.get(AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA)
    if m:
        manu[m[0]] = bytes(m[1])
    name = str(name) if name is not None else None
    return name, AdvertisementData(local_name=name, manufacturer_data=manu, service_data={}, service_uuids=uuids,
                                   tx_power=None, rssi=int(getattr(adv, "rssi", -50)), platform_data=(adv,))


def _uuid_str(u: core.UUID) -> str:
    return u.to_hex_str("-").lower() if len(u.uuid_bytes) == 16 else f"0000{u.to_hex_str()}-0000-1000-8000-00805f9b34fb".lower()


# Why an encryption with a stored key fails when the peer does not hold it (as opposed to a link loss).
_KEY_ERRORS = (hci.HCI_ErrorCode.AUTHENTICATION_FAILURE_ERROR, hci.HCI_ErrorCode.PIN_OR_KEY_MISSING_ERROR,
               hci.HCI_ErrorCode.CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE_ERROR)


class BumbleScanner(BaseBleakScanner):
    central: ClassVar[BumbleCentral]

    def __init__(self, detection_callback: Any, service_uuids: list[str] | None,
                 scanning_mode: str = "active", **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._listening = False

    def _on_adv(self, adv: Any) -> None:
        name, data = _adv_data(adv)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = str(adv.address).split("/")[0]
        device = self.create_or_update_device(address, address, name, adv.address, data)
        self.call_detection_callbacks(device, data)

    async def start(self) -> None:
        self.seen_devices = {}
        dev = self.central.device
        if dev is None:
            raise BleakError("Bumble central is not started")
        dev.on("advertisement", self._on_adv)
        self._listening = True
        await self.central.start_scanning()

    async def stop(self) -> None:
        if self._listening and self.central.device is not None:
            self.central.device.remove_listener("advertisement", self._on_adv)
        self._listening = False
        await self.central.stop_scanning()


def _aborted(exc: BaseException) -> bool:
    """Bumble cancels a pending operation when the link drops; that is an error here, not our cancellation."""
    task = asyncio.current_task()
    return isinstance(exc, asyncio.CancelledError) and (task is None or task.cancelling() == 0)


def _gatt_error(exc: BaseException) -> BleakError:
    if isinstance(exc, att.ATT_Error):
        return BleakGATTProtocolError(exc.error_code)
    if isinstance(exc, core.BaseBumbleError | asyncio.TimeoutError | asyncio.CancelledError):
        return BleakError(f"Bumble: {exc!r}")
    raise exc


class BumbleClient(BaseBleakClient):
    central: ClassVar[BumbleCentral]

    def __init__(self, address_or_ble_device: BLEDevice | str, *, disconnected_callback: Callable[[], None] | None,
                 timeout: float = 10.0, services: Any = None, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self._details = address_or_ble_device.details if isinstance(address_or_ble_device, BLEDevice) else None
        self._conn: Connection | None = None
        self._peer: Peer | None = None
        self._handles: dict[int, Any] = {}
        self._subs: dict[int, Callable[[bytes], None]] = {}
        self._closing = False
        self._reason: int | None = None

    @property
    def name(self) -> str:
        return self.address

    @property
    def mtu_size(self) -> int:
        return self._conn.att_mtu if self._conn is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._conn is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        dev = self.central.device
        if dev is None:
            raise BleakError("Bumble central is not started")
        if self.central._scanners and dev.is_scanning:
            await dev.stop_scanning()  # a controller connects or scans, not both
            self.central._scanners = 0
        # Bands use a random static address, which is also their identity address (the key of their bond).
        target = self._details if self._details is not None else hci.Address(self.address)
        try:
            conn = await dev.connect(target, timeout=self._timeout)
        except core.ConnectionError as exc:
            raise BleakDeviceNotFoundError(self.address, f"could not connect: {exc}") from exc
        except asyncio.TimeoutError as exc:
            raise BleakDeviceNotFoundError(self.address, f"no answer from {self.address}") from exc
        self._conn = conn
        self._closing = False
        self._reason = None
        conn.on("disconnection", self._on_disconnection)
        try:
            if await self.central.keystore.get(str(conn.peer_address)) is not None:
                try:
                    await asyncio.wait_for(conn.encrypt(), self._timeout)
                except (Exception, asyncio.CancelledError) as exc:  # a peer without our key: MIC failure...
                    if isinstance(exc, asyncio.CancelledError) and not _aborted(exc):
                        raise
                    code = getattr(exc, "error_code", None)
                    if code not in _KEY_ERRORS and self._reason not in _KEY_ERRORS:
                        raise BleakError(f"the link dropped while connecting ({exc!r})") from exc
                    raise BleakError(f"encryption with the stored bond failed: {exc!r}") from exc
                if not conn.is_encrypted:
                    raise BleakError("encryption with the stored bond failed")
            elif pair:
                await self.pair(passkey=kwargs.get("passkey"))
            self._peer = Peer(conn)
            await self._guard(self._peer.request_mtu(247))
            await self._guard(self._discover())
            if self._conn is None:
                raise BleakError("the link dropped while connecting")
        except BaseException as exc:
            await self._force_close()
            if _aborted(exc):
                raise BleakError("the link dropped while connecting") from exc
            raise

    async def _force_close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._closing = True
            try:
                # Bounded: after a racing link loss the controller may no longer know the connection.
                await asyncio.wait_for(conn.disconnect(), 2.0)
            except (Exception, asyncio.CancelledError) as exc:  # already gone
                if isinstance(exc, asyncio.CancelledError) and not _aborted(exc):
                    raise

    async def _discover(self) -> None:
        peer = self._peer
        if peer is None:
            raise BleakError("Not connected")
        await peer.discover_all()
        coll = BleakGATTServiceCollection()
        self._handles = {}
        for svc in peer.services:
            bsvc = BleakGATTService(svc, svc.handle, _uuid_str(svc.uuid))
            coll.add_service(bsvc)
            for ch in svc.characteristics:
                props = [p for i, p in enumerate(_PROPS) if ch.properties & (1 << i)]
                bch = BleakGATTCharacteristic(ch, ch.handle, _uuid_str(ch.uuid), props,  # type: ignore[arg-type]
                                              lambda: self.mtu_size - 3, bsvc)
                coll.add_characteristic(bch)
                self._handles[ch.handle] = ch
                for d in ch.descriptors:
                    bd = BleakGATTDescriptor(d, d.handle, _uuid_str(d.type), bch)
                    coll.add_descriptor(bd)
                    self._handles[d.handle] = d
        self.services = coll

    def _on_disconnection(self, reason: int) -> None:
        self._reason = reason
        requested = self._closing
        self._conn = None
        self._peer = None
        if not requested and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def _guard(self, coro: Any) -> Any:
        """Await a GATT operation, abandoning it when the link drops (Bumble would wait for its own 30 s timeout)."""
        conn = self._conn
        if conn is None:
            coro.close()
            raise BleakError("Not connected")
        return await asyncio.wait_for(conn.cancel_on_disconnection(coro), self._timeout)

    def _need(self) -> Peer:
        if self._peer is None or self._conn is None:
            raise BleakError("Not connected")
        return self._peer

    async def disconnect(self) -> None:
        await self._force_close()

    async def pair(self, *args: Any, passkey: int | None = None, **kwargs: Any) -> None:
        if self._conn is None:
            raise BleakError("Not connected")
        self.central.passkey = passkey
        try:
            await asyncio.wait_for(self._conn.pair(), self._timeout)
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not _aborted(exc):
                raise
            raise BleakError(f"pairing failed: {exc!r}") from exc
        finally:
            self.central.passkey = None

    async def unpair(self) -> None:
        if self._conn is not None:
            await self.central.keystore.delete(str(self._conn.peer_address))
            await self._force_close()
        else:
            await self.central.keystore.delete(self.address)

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False,
                             **kwargs: Any) -> bytearray:
        peer = self._need()
        try:
            return bytearray(await self._guard(peer.read_value(characteristic.handle)))
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not _aborted(exc):
                raise
            raise _gatt_error(exc) from exc

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False,
                                   **kwargs: Any) -> bytearray:
        peer = self._need()
        try:
            return bytearray(await self._guard(peer.read_value(descriptor.handle)))
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not _aborted(exc):
                raise
            raise _gatt_error(exc) from exc

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any, response: bool) -> None:
        peer = self._need()
        try:
            await self._guard(peer.write_value(characteristic.handle, bytes(data), with_response=response))
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not _aborted(exc):
                raise
            raise _gatt_error(exc) from exc

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        peer = self._need()
        try:
            await self._guard(peer.write_value(descriptor.handle, bytes(data), with_response=True))
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not _aborted(exc):
                raise
            raise _gatt_error(exc) from exc

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback,
                           **kwargs: Any) -> None:
        peer = self._need()
        proxy = self._handles[characteristic.handle]

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._subs[characteristic.handle] = on_value
        try:
            await self._guard(peer.subscribe(proxy, on_value))
        except (Exception, asyncio.CancelledError) as exc:
            self._subs.pop(characteristic.handle, None)
            if isinstance(exc, asyncio.CancelledError) and not _aborted(exc):
                raise
            raise _gatt_error(exc) from exc

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._need()
        sub = self._subs.pop(characteristic.handle, None)
        try:
            await self._guard(peer.unsubscribe(self._handles[characteristic.handle], sub))
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not _aborted(exc):
                raise
            raise _gatt_error(exc) from exc
