# The band's Bluetooth link: a GATT server on MicroPython's `bluetooth.BLE` API.
#
# Events leave the flash queue (eventq.py) as notifications and are released only
# when the host writes an ACK for them, after committing them to its log; after a
# reconnect the host writes RESUME(last seq it holds, the boot id it holds it
# under) and the band sends again from there, if that seq is provably its own.
# At most WINDOW events are in flight unacknowledged; while the window is full
# the band still notifies every alarm-relevant event (episode START, UPDATE, END,
# and DROPPED) beyond it on the alerts characteristic, so a host whose log cannot
# commit still hears an episode. docs/protocol.md is the wire contract; packet.py
# the only codec.
#
# Security: every characteristic needs an encrypted link, and the band streams
# nothing until the link is encrypted with an authenticated (passkey) bond. New
# pairings are accepted only while pairing mode is on (the entry point turns it on
# for PAIRING_S after every power-on), and only with the passkey: the band's own
# 6-digit number, printed on it. A pairing without it (Just Works) is dropped and
# its keys are never stored; no key is stored or deleted outside such a pairing
# except by the bonded host on a secured link; the bond table is bounded and a new
# bond never evicts an old one. A connection that is not secured within
# SECURE_TIMEOUT_MS is dropped so a stranger cannot hold the band's only slot.
#
# The `ble` object is injected: bluetooth.BLE() on the band, or
# anklet.bumble_band.BumbleBLE (the same API on a Bumble virtual controller) on a
# computer. IRQ handlers only record state and set a flag; the coroutine run()
# does the sending.
from . import packet

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


try:
    from time import ticks_add, ticks_diff, ticks_ms  # type: ignore[attr-defined]
except ImportError:  # CPython
    import time as _time

    def ticks_ms():
        return int(_time.monotonic() * 1000)  # type: ignore[attr-defined]  # CPython only

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, b):
        return a + b


try:
    import asyncio
except ImportError:  # older MicroPython
    import uasyncio as asyncio  # type: ignore

try:
    from asyncio import ThreadSafeFlag  # type: ignore[attr-defined]  # MicroPython
except ImportError:  # CPython: IRQs arrive on the event loop's thread, an Event does

    class ThreadSafeFlag:  # type: ignore[no-redef]
        def __init__(self):
            self._ev = asyncio.Event()

        def set(self):
            self._ev.set()

        async def wait(self):
            await self._ev.wait()
            self._ev.clear()


SERVICE_UUID = "6a1e0001-7c3f-4d2b-9a55-616e6b6c6574"
EVENTS_UUID = "6a1e0002-7c3f-4d2b-9a55-616e6b6c6574"
STATUS_UUID = "6a1e0003-7c3f-4d2b-9a55-616e6b6c6574"
CONTROL_UUID = "6a1e0004-7c3f-4d2b-9a55-616e6b6c6574"
RAW_UUID = "6a1e0005-7c3f-4d2b-9a55-616e6b6c6574"
ALERTS_UUID = "6a1e0006-7c3f-4d2b-9a55-616e6b6c6574"

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)
_IRQ_PASSKEY_ACTION = const(31)

_FLAG_READ = const(0x0002)
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)
_FLAG_READ_ENCRYPTED = const(0x0200)
_FLAG_READ_AUTHENTICATED = const(0x0400)
_FLAG_WRITE_ENCRYPTED = const(0x1000)
_FLAG_WRITE_AUTHENTICATED = const(0x2000)
_R_SEC = const(0x0600)  # read needs an encrypted, authenticated link
_W_SEC = const(0x3000)

_IO_DISPLAY_ONLY = const(0)
_PASSKEY_ACTION_DISP = const(3)

MIN_MTU = const(48)  # an event packet (42) or a status frame (44) plus the 3-byte ATT header
WINDOW = const(16)  # events sent but not yet acknowledged
_EARLY_SCAN = const(32)  # records looked at per pass for the alerts stream
_KIND_START = const(1)  # events.START, UPDATE, END, DROPPED: what the alerts stream carries
_KIND_END = const(3)
_KIND_DROPPED = const(6)
MAX_BOND_ITEMS = const(12)  # secrets kept: a few hosts (NimBLE keeps 2-3 per peer); new ones beyond are refused
SECURE_TIMEOUT_MS = const(15000)
PAIRING_TIMEOUT_MS = const(60000)
HEARTBEAT_MS = const(5000)  # status notified this often: the host's proof the band is alive
TICK_MS = const(250)
_CTRL_FIFO = const(8)


def _adv_field(kind, data):
    return bytes((len(data) + 1, kind)) + data


def uuid128_le(text):
    """The 16 bytes of a 128-bit UUID string as they appear on air (little-endian)."""
    h = text.replace("-", "")
    return bytes(int(h[i:i + 2], 16) for i in range(30, -2, -2))


def advertising_payload(name):
    """(adv_data, resp_data): flags, the service UUID and as much of the name as fits (31 bytes);
    the complete name in the scan response."""
    adv = _adv_field(0x01, b"\x06") + _adv_field(0x07, uuid128_le(SERVICE_UUID))
    raw = name.encode()
    room = 31 - len(adv) - 2
    adv += _adv_field(0x09, raw) if len(raw) <= room else _adv_field(0x08, raw[:room])
    resp = _adv_field(0x09, raw)
    return adv, resp


def load_passkey(path):
    """The band's pairing passkey: drawn once from the hardware RNG, then kept in flash.

    Not derived from the chip id: that is close to the advertised address, so anyone nearby could work it out.
    The builder reads it for the label with `mpremote fs cat :passkey.txt`."""
    import os

    try:
        with open(path) as f:
            text = f.read().strip()
        if len(text) == 6 and text.isdigit():
            return int(text)
    except OSError:
        pass
    r = os.urandom(4)
    key = (r[0] | (r[1] << 8) | (r[2] << 16) | ((r[3] & 0x3F) << 24)) % 1000000
    with open(path, "w") as f:
        f.write("%06d\n" % key)
    print("anklet: new pairing passkey %06d (print it on the band's label)" % key)
    return key


class Bonds:
    """The bonding secrets the BLE stack hands us (_IRQ_SET_SECRET), kept in a file so bonds survive a reset."""

    def __init__(self, path=None, limit=MAX_BOND_ITEMS):
        self.path = path
        self.limit = limit
        self.items = []  # [sec_type, key, value]
        if path:
            self._load()

    def _load(self):
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        with f:
            data = f.read()
        pos = 0
        while pos + 4 <= len(data):
            t, kl, vl = data[pos], data[pos + 1], data[pos + 2] | (data[pos + 3] << 8)
            pos += 4
            if pos + kl + vl > len(data):
                break  # torn tail: keep what was complete
            self.items.append([t, bytes(data[pos:pos + kl]), bytes(data[pos + kl:pos + kl + vl])])
            pos += kl + vl

    def _save(self):
        if not self.path:
            return
        tmp = self.path + ".new"
        with open(tmp, "wb") as f:
            for t, k, v in self.items:
                f.write(bytes((t, len(k), len(v) & 0xFF, len(v) >> 8)))
                f.write(k)
                f.write(v)
        import os

        os.rename(tmp, self.path)

    def get(self, sec_type, index, key):
        n = 0
        for t, k, v in self.items:
            if t != sec_type:
                continue
            if key is None:
                if n == index:
                    return v
                n += 1
            elif k == key:
                return v
        return None

    def set(self, sec_type, key, value):
        """Store, replace or (value None) delete a secret. A new one is refused (False) when the table is full:
        an old bond, the parents' host, is never evicted to make room."""
        key = bytes(key)
        for i in range(len(self.items)):
            if self.items[i][0] == sec_type and self.items[i][1] == key:
                if value is None:
                    self.items.pop(i)
                else:
                    self.items[i][2] = bytes(value)
                self._save()
                return True
        if value is not None:
            if len(self.items) >= self.limit:
                return False
            self.items.append([sec_type, key, bytes(value)])
            self._save()
        return True


class Radio:
    """The band's GATT server. Usage on the band:

        radio = Radio(bluetooth.BLE(), queue, boot, name="anklet-1a2b", passkey=secret, uid=uid48,
                      bonds=Bonds("/bonds.bin"))
        asyncio.create_task(radio.run())
        ...  # after queue.append(rec): radio.kick(); while radio.raw_on(): radio.raw_push(x, y, z)

    `bonds` must be file-backed on the band, or every reset forgets the host and the host refuses the band
    until it is paired again. `passkey` must be a random secret kept in the band's settings and printed on
    it: anything derived from the radio address or machine.unique_id() (both public) lets a stranger pair.
    """

    def __init__(self, ble, queue, boot, name="anklet", passkey=0, uid=0, bonds=None, status=None,
                 on_setting=None, on_identify=None, on_time=None, fs=50, range_g=8, clock=None):
        self.ble = ble
        self.queue = queue
        self.boot = boot
        self.name = name
        self.passkey = passkey
        self.uid = uid
        self.bonds = bonds if bonds is not None else Bonds()
        self.status = status  # callable -> (battery_mv, battery_pct, worn, fifo_overflows, uptime_s, fw_version)
        self.on_setting = on_setting  # callable(key, value) -> error code; ValueError means ERR_VALUE
        self.on_identify = on_identify  # callable(seconds)
        self.on_time = on_time  # callable(unix_s, ms)
        self.fs = fs
        self.range_g = range_g
        self.clock = clock or ticks_ms
        self.pairing_until = None  # clock value until which new pairings are accepted
        self.time_set = False
        # Counters the status and the tests read.
        self.bad_frames = 0
        self.refused = 0  # connections dropped or pairings refused (not in pairing mode, no passkey, timeout)
        self.secrets_refused = 0  # bond keys the stack asked to store or delete, refused
        self.early = 0  # events sent on the alerts characteristic
        self.sent = 0
        self.unreadable = 0
        self._flag = ThreadSafeFlag()
        self._conn = None
        self._conn_t = 0
        self._secure = False
        self._mtu = 23
        self._streaming = False
        self._cursor = 0
        self._early = 0  # next seq the alerts stream looks at
        self._passkey_conn = None  # the connection shown the passkey in pairing mode
        self._ctrl = []  # control frames written by the host, handled in run()
        self._evbuf = bytearray(packet.SIZE)
        self._stbuf = bytearray(packet.STATUS_SIZE)
        self._rpbuf = bytearray(packet.REPLY_SIZE)
        self._last_hb = 0
        self._raw_on = False
        self._raw_buf = None
        self._raw_n = 0
        self._raw_index = 0
        self._adv = advertising_payload(name)
        self._advertising = False
        uuid = getattr(ble, "UUID", None)
        if uuid is None:
            import bluetooth  # type: ignore

            uuid = bluetooth.UUID
        ble.active(True)
        ble.config(gap_name=name, io=_IO_DISPLAY_ONLY, bond=True, mitm=True, le_secure=True, mtu=247)
        ble.irq(self._irq)
        svc = (
            uuid(SERVICE_UUID),
            (
                (uuid(EVENTS_UUID), _FLAG_NOTIFY | _R_SEC),
                (uuid(STATUS_UUID), _FLAG_READ | _FLAG_NOTIFY | _R_SEC),
                (uuid(CONTROL_UUID), _FLAG_WRITE | _FLAG_NOTIFY | _R_SEC | _W_SEC),
                (uuid(RAW_UUID), _FLAG_NOTIFY | _R_SEC),
                (uuid(ALERTS_UUID), _FLAG_NOTIFY | _R_SEC),
            ),
        )
        ((self.h_events, self.h_status, self.h_control, self.h_raw, self.h_alerts),) = \
            ble.gatts_register_services((svc,))
        ble.gatts_set_buffer(self.h_control, packet.CTRL_MAX)
        self._update_status()

    # -- state the entry point and the tests use ------------------------------------

    def set_pairing(self, seconds):
        """Accept new pairings for `seconds` from now (0: stop)."""
        self.pairing_until = ticks_add(self.clock(), int(seconds * 1000)) if seconds > 0 else None

    def pairing(self):
        return self.pairing_until is not None and ticks_diff(self.pairing_until, self.clock()) > 0

    @property
    def connected(self):
        return self._conn is not None

    @property
    def secure(self):
        return self._secure

    @property
    def streaming(self):
        return self._streaming

    def raw_on(self):
        """True while the host has raw streaming on (a method: the sampling loop asks once per wake-up)."""
        return self._raw_on

    def kick(self):
        """Call after queue.append(): wakes the sender."""
        self._flag.set()

    def disconnect(self):
        if self._conn is not None:
            self.ble.gap_disconnect(self._conn)

    # -- interrupts: record and wake ------------------------------------------------

    def _irq(self, event, data):
        if event == _IRQ_CENTRAL_CONNECT:
            conn = data[0]
            self._advertising = False
            if self._conn is not None:  # one central at a time
                self.ble.gap_disconnect(conn)
                return
            self._conn = conn
            self._conn_t = self.clock()  # type: ignore[assignment]  # ticks are ints on the band
            self._secure = False
            self._streaming = False
            self._mtu = 23
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] == self._passkey_conn:
                self._passkey_conn = None
            if data[0] == self._conn:
                self._conn = None
                self._secure = False
                self._streaming = False
                self._raw_on = False
                self._ctrl.clear()
        elif event == _IRQ_MTU_EXCHANGED:
            if data[0] == self._conn:
                self._mtu = data[1]
        elif event == _IRQ_ENCRYPTION_UPDATE:
            conn, encrypted, authenticated, bonded, key_size = data
            if conn == self._conn:
                self._secure = bool(encrypted and authenticated and bonded and key_size >= 16)
                if encrypted and not self._secure:
                    # Encrypted without a passkey (Just Works) or a short key: not the paired host. Let go.
                    self.refused += 1
                    self.ble.gap_disconnect(conn)
        elif event == _IRQ_GATTS_WRITE:
            conn, handle = data[0], data[1]
            if conn == self._conn and handle == self.h_control:
                if len(self._ctrl) < _CTRL_FIFO:
                    self._ctrl.append(bytes(self.ble.gatts_read(handle)))
                else:
                    self.bad_frames += 1
        elif event == _IRQ_GET_SECRET:
            sec_type, index, key = data
            return self.bonds.get(sec_type, index, None if key is None else bytes(key))
        elif event == _IRQ_SET_SECRET:
            sec_type, key, value = data
            if not self._may_store():
                self.secrets_refused += 1
                return False
            ok = self.bonds.set(sec_type, bytes(key), None if value is None else bytes(value))
            if not ok:
                self.secrets_refused += 1
            return ok
        elif event == _IRQ_PASSKEY_ACTION:
            conn, action, _ = data
            if action == _PASSKEY_ACTION_DISP and self.pairing():
                self._passkey_conn = conn
                self.ble.gap_passkey(conn, action, self.passkey)
            else:
                # Not in pairing mode, or a method without a passkey: no new bond.
                self.refused += 1
                self.ble.gap_disconnect(conn)
        self._flag.set()

    def _may_store(self):
        # Keys change only in a passkey pairing in pairing mode, or from the bonded host on its secured link
        # (the stack updating what it keeps for it). A Just Works pairing never shows the passkey.
        conn = self._conn
        if conn is None:
            return False
        if self._secure:
            return True
        return self._passkey_conn == conn and self.pairing()

    # -- the sender -------------------------------------------------------------------

    async def run(self):
        asyncio.create_task(self._ticker())
        while True:
            await self._flag.wait()
            self.service()

    async def _ticker(self):
        while True:
            await asyncio.sleep(TICK_MS / 1000)
            self._flag.set()

    def service(self):
        """One pass of the work: commands, advertising, events, heartbeat. Never blocks."""
        now = self.clock()
        while self._ctrl:
            self._control(self._ctrl.pop(0))
        conn = self._conn
        if conn is None:
            if not self._advertising:
                adv, resp = self._adv
                self.ble.gap_advertise(100000, adv, resp)
                self._advertising = True
            return
        if not self._secure:
            limit = PAIRING_TIMEOUT_MS if self.pairing() else SECURE_TIMEOUT_MS
            if ticks_diff(now, self._conn_t) > limit:
                self.refused += 1
                self.ble.gap_disconnect(conn)
            return
        if self._streaming and self._mtu >= MIN_MTU:
            self._send_events(conn)
        if ticks_diff(now, self._last_hb) >= HEARTBEAT_MS:
            self._last_hb = now  # type: ignore[assignment]  # ticks are ints on the band
            self._update_status()
            if self._streaming and self._mtu >= MIN_MTU:  # the host subscribes before its RESUME
                self._notify(conn, self.h_status, self._stbuf)

    def _notify(self, conn, handle, data):
        try:
            self.ble.gatts_notify(conn, handle, data)
            return True
        except OSError:  # the stack's buffers are full: try again on the next pass
            return False

    def _send_events(self, conn):
        q = self.queue
        if self._cursor < q.first_seq():
            self._cursor = q.first_seq()  # released or dropped while we were away
        end = q.next_seq()
        while self._cursor < end and self._cursor - q.first_seq() < WINDOW:
            if not q.read_into(self._cursor, self._evbuf):
                first = q.first_seq()
                if self._cursor < first:
                    self._cursor = first  # released or dropped meanwhile
                else:
                    self._cursor += 1  # an unreadable record: skip it rather than spin (the host sees the gap)
                    self.unreadable += 1
                continue
            if not self._notify(conn, self.h_events, self._evbuf):
                return
            self._cursor += 1
            self.sent += 1
        if self._cursor < end:
            self._send_early(conn, end)

    def _send_early(self, conn, end):
        # The window is full (the host has not acknowledged: its log may be failing). Episode and DROPPED
        # events beyond it still go out, on the alerts characteristic, once each per connection; the
        # events stream sends them again in order once the host acknowledges, and only that copy is logged.
        q = self.queue
        if self._early < self._cursor:
            self._early = self._cursor
        buf = self._evbuf
        n = 0
        while self._early < end and n < _EARLY_SCAN:
            n += 1
            if q.read_into(self._early, buf):
                k = buf[1]
                if _KIND_START <= k <= _KIND_END or k == _KIND_DROPPED:
                    if not self._notify(conn, self.h_alerts, buf):
                        return
                    self.early += 1
            self._early += 1

    def _update_status(self):
        if self.status is not None:
            mv, pct, worn, fifo, uptime, fw = self.status()
        else:
            mv, pct, worn, fifo, uptime, fw = 0, 0, 0, 0, self.clock() // 1000, 0  # type: ignore[operator]
        q = self.queue
        flags = ((packet.SF_WORN if worn else 0) | (packet.SF_RAW if self._raw_on else 0)
                 | (packet.SF_PAIRING if self.pairing() else 0) | (packet.SF_TIME if self.time_set else 0))
        packet.encode_status_into(self._stbuf, (flags, mv, pct, fifo, q.depth(), uptime, self.boot, fw,
                                                q.first_seq(), q.next_seq(), q.lost, self.uid))
        self.ble.gatts_write(self.h_status, self._stbuf)

    def _mine(self, after, boot):
        """May RESUME(after, boot) release what this band holds up to `after`? Only if it wrote `after` under
        that boot id: a wiped or re-flashed band holding a record `after` of its own would release it unsent."""
        q = self.queue
        if boot == packet.BOOT_UNKNOWN:
            return True  # a host that cannot say (its log unreadable): the old rule, seq range only
        if after < q.first_seq():
            return True  # acknowledged or dropped already: the RESUME releases nothing (a gap it reports)
        buf = self._evbuf
        if not q.read_into(after, buf):
            return True  # damaged in flash, reported as lost: the seq range has to do
        return (buf[6] | (buf[7] << 8)) == boot

    def _reply(self, op, token, status, value):
        packet.encode_reply_into(self._rpbuf, op, token, status, value)
        if self._conn is not None:
            self._notify(self._conn, self.h_control, self._rpbuf)

    def _control(self, data):
        try:
            op, token, args = packet.decode_control(data)
        except packet.ControlError as e:
            self.bad_frames += 1
            self._reply(e.op, e.token, e.code, 0)
            return
        if not self._secure:
            self._reply(op, token, packet.ERR_STATE, 0)
            return
        q = self.queue
        status, value = packet.ERR_OK, 0
        if op == packet.OP_ACK:
            seq = args[0]
            if seq >= self._cursor or seq >= q.next_seq():
                status = packet.ERR_VALUE  # acknowledges something never sent
            else:
                q.ack(seq)
                value = q.first_seq()
        elif op == packet.OP_RESUME:
            after, boot = args
            if after == packet.RESUME_OLDEST:
                start = q.first_seq()
            elif after >= q.next_seq() or not self._mine(after, boot):
                # The host holds more than this band ever sent, or a seq this band cannot show it wrote
                # under that boot: a wiped or re-flashed band, or another one. Releasing would lose events.
                start = -1
            else:
                if after >= q.first_seq():
                    q.ack(after)  # the host has these committed
                start = max(after + 1, q.first_seq())
            if start < 0:
                status, value = packet.ERR_VALUE, q.next_seq()
            else:
                self._cursor = start
                self._early = start
                self._streaming = True
                value = start
        elif op == packet.OP_TIME:
            self.time_set = True
            if self.on_time is not None:
                self.on_time(args[0], args[1])
            value = self.clock() & 0x3FFFFFFF  # type: ignore[operator]
        elif op == packet.OP_SETTING:
            if self.on_setting is None:
                status = packet.ERR_UNSUPPORTED
            else:
                try:
                    status = self.on_setting(args[0], args[1]) or packet.ERR_OK
                except ValueError:
                    status = packet.ERR_VALUE
        elif op == packet.OP_RAW:
            if args[0] > 1:
                status = packet.ERR_VALUE
            else:
                self._raw_start(args[0] == 1)
                value = self._raw_n
        elif op == packet.OP_IDENTIFY:
            if not 1 <= args[0] <= 60:
                status = packet.ERR_VALUE
            elif self.on_identify is None:
                status = packet.ERR_UNSUPPORTED
            else:
                self.on_identify(args[0])
        if status != packet.ERR_OK:
            self.bad_frames += 1
        self._reply(op, token, status, value)
        self._update_status()

    # -- raw streaming -------------------------------------------------------------

    def _raw_start(self, on):
        self._raw_on = on
        if on:
            # As many samples per frame as the MTU carries, fixed for the stream so no slicing per frame.
            n = (self._mtu - 3 - packet.RAW_HDR - 2) // 6
            self._raw_n = max(1, min(packet.RAW_MAX, n))
            self._raw_buf = bytearray(packet.raw_frame_size(self._raw_n))
            self._raw_index = 0
            packet.raw_start_into(self._raw_buf, self.fs, self.range_g, 0)

    def raw_push(self, x, y, z):
        """One accelerometer sample (int counts) while raw streaming is on. No allocation."""
        if not self._raw_on or self._conn is None:
            return
        buf = self._raw_buf
        if packet.raw_add_into(buf, x, y, z) == self._raw_n:
            packet.raw_seal(buf)
            self._notify(self._conn, self.h_raw, buf)
            self._raw_index += self._raw_n
            packet.raw_start_into(buf, self.fs, self.range_g, self._raw_index)
