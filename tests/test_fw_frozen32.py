"""The band's firmware on the frozen 32-bit MicroPython (`make band32`): what the build is, and the paths that
must not allocate (the sampling loop's step, the flash queue's append and read, the radio's send path) run
under micropython.heap_lock() on it. The detector's own proof is test_detector_frozen32.py; the heap after
boot is test_fw_heap.py's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from conftest import ROOT, counts_from_g, shake, still
from test_fw_heap import _esp32_fakes
from test_fw_micropython import HEAP_SCRIPT, MICROPYTHON

from anklet import band32 as b32

SMALL_INT_LIMIT = """
import micropython, sys
def grow(a):
    micropython.heap_lock()
    try:
        a + 1
        return "small"
    except MemoryError:
        return "big"  # 2^30 needs a heap object: the ESP32's limit
    finally:
        micropython.heap_unlock()
print(sys.maxsize, grow(2 ** 30 - 1))
"""


def _ok(res: subprocess.CompletedProcess, marker: str) -> str:
    assert res.returncode == 0 and marker in res.stdout, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout.split(marker, 1)[1]


def test_the_build_is_32_bit(band32: str) -> None:
    assert b32.run(SMALL_INT_LIMIT).stdout.split() == [str(2**31 - 1), "big"]
    # The PyPI unix port the other tests use is 64-bit: there 2^30 is still a small int.
    stock = subprocess.run([str(MICROPYTHON), "-c", SMALL_INT_LIMIT], capture_output=True, text=True, timeout=60)
    assert stock.stdout.split() == [str(2**63 - 1), "small"]


def test_every_firmware_module_is_frozen_and_the_image_is_current(band32: str) -> None:
    listed = set(b32.run("help('modules')").stdout.split())
    package = {f"anklet_fw/{p.stem}" for p in (ROOT / "firmware" / "anklet_fw").glob("*.py")}
    assert package <= listed, f"not frozen: {sorted(package - listed)}"
    assert {"anklet_vband", "vband_main", "asyncio/core"} <= listed
    # make band32 rebuilt it after the last change to the firmware or its manifests.
    built = Path(band32).stat().st_mtime
    sources = [*(ROOT / "firmware").glob("anklet_fw/*.py"), *(ROOT / "firmware").glob("vband/*.py"),
               *(ROOT / "firmware").glob("manifest*.py")]
    assert all(p.stat().st_mtime <= built for p in sources)


def test_sampling_loop_step_under_heap_lock(band32: str, tmp_path: Path) -> None:
    # The same two minutes of wake-ups as test_fw_micropython.py, with the frozen modules.
    res = b32.run(HEAP_SCRIPT.format(path=".frozen", flash=str(tmp_path / "flash.bin")) +
                  "\nprint('FROZEN', Band.step.__module__ if hasattr(Band.step, '__module__') else '',"
                  " sys.modules['anklet_fw.band'].__file__)\n")
    out = _ok(res, "HEAP")
    code, data, locked, samples, depth = (int(v) for v in out.split("FROZEN")[0].split())
    assert out.split()[-1] == "anklet_fw/band.py"  # frozen, not read from a file
    assert locked == 130 and samples == 135 * 52 and depth >= 4  # nothing allocated in 130 wake-ups
    print(f"\nfrozen 32-bit: band state {data} B after five wake-ups")


QUEUE_SCRIPT = """
import gc, micropython
from array import array
from anklet_fw.eventq import EventQueue
from anklet_fw.flashdev import FileFlash, SubFlash
from anklet_fw import packet

dev = FileFlash("queue.bin", 8)
q = EventQueue(SubFlash(dev, 0, 8), 3)  # 2 journal blocks, a ring of 6 x 97 records
rec = array("i", [4, 0, 1, -2, 3, -40000, 50000, -(2 ** 29), 2 ** 29])
buf = bytearray(packet.SIZE)
back = array("i", [0] * 9)
bad = array("i", [0, 0])  # records read back unlike what was written, reads refused

q.append(rec)
q.ack(q.append(rec))  # the first ack makes the journal's write buffer; later ones reuse it

def check(seq):
    # read_into checks the CRC and the seq; the kind and the seq's low byte are checked here too.
    if not q.read_into(seq, buf):
        bad[1] += 1
    elif buf[1] not in (4, 6) or buf[2] != seq & 0xFF:
        bad[0] += 1

def acked(n):
    # Appends read back at once, acknowledged in tens: the radio's pattern with a host in range.
    for i in range(n):
        rec[1] = i * 1000
        s = q.append(rec)
        check(s)
        if i % 10 == 9:
            q.ack(s - 3)

def unacked(n):
    # No host: the ring fills, its oldest block is dropped, and the drop is reported as an event.
    reports = 0
    for i in range(n):
        rec[1] = i * 1000
        q.append(rec)
        if q.drop_report(back, i * 1000):
            q.append(back)
            reports += 1
    return reports

gc.collect()
micropython.heap_lock()
try:
    acked(1500)  # past the end of the ring more than twice, the journal's blocks swapped
    reports = unacked(1200)
    first = q.first_seq()
    for s in range(first, q.next_seq()):
        check(s)
finally:
    micropython.heap_unlock()
print("QUEUE", bad[0], bad[1], reports, q.dropped, q.depth(), q.next_seq())
"""


def test_flash_queue_append_and_read_under_heap_lock(band32: str, tmp_path: Path) -> None:
    out = _ok(b32.run(QUEUE_SCRIPT, cwd=tmp_path), "QUEUE")
    print(f"\nqueue: {out}")
    wrong, refused, reports, dropped, depth, nxt = (int(v) for v in out.split())
    assert wrong == 0 and refused == 0
    assert reports >= 1 and dropped > 0  # the ring overflowed under the lock
    assert 5 * 97 <= depth <= 6 * 97 and nxt == 2 + 1500 + 1200 + reports + 1


RADIO_SCRIPT = """
import gc, sys, micropython
from array import array
sys.path[:0] = [{paths}]
import machine, bluetooth, asyncio
from anklet_fw import app, packet_host

with open("trace.bin", "rb") as f:
    raw = f.read()
data = array("h", bytes(len(raw)))
for i in range(len(raw) // 2):
    v = raw[2 * i] | (raw[2 * i + 1] << 8)
    data[i] = v - 65536 if v >= 32768 else v
del raw
src = machine.CHIP.source
src.data, src.n, src.i = data, len(data), 0
band, flag, period, radio, stop = app.boot("xiao_esp32s3", "esp32")
q = band.queue
ble = radio.ble
NOW = 100000
radio.clock = lambda: NOW  # no heartbeat falls due: its status record is built at most every 5 s
H_EV = radio.h_events
SENT = bytearray(42 * 600)
NSENT = array("i", [0, 0])  # events, raw frames

def notify(conn, handle, data=None):
    # The controller's side: copies what it is given into a fixed table.
    if handle == H_EV:
        k = NSENT[0]
        o = 42 * k
        for i in range(42):
            SENT[o + i] = data[i]
        NSENT[0] = k + 1
    elif handle == radio.h_raw:
        NSENT[1] += 1
    return True

ble.gatts_notify = notify
h = ble.handler
h(1, (9, 0, b"\\x01\\x02\\x03\\x04\\x05\\x06"))  # the parents' host connects,
h(21, (9, 247))  # agrees an MTU,
h(28, (9, 1, 1, 1, 16))  # is bonded and encrypted,
ble.values[radio.h_control] = packet_host.encode_control(packet_host.OP_RESUME, 1, packet_host.RESUME_OLDEST, packet_host.BOOT_UNKNOWN)
h(3, (9, radio.h_control))  # and asks for every event held
radio.service()

def run(n, lock):
    # The fake chip fills its FIFO unlocked (it is the test's, not the band's); the band's wake-up and the
    # radio's pass run locked.
    for _ in range(n):
        machine.CHIP.tick(52)
        gc.collect()
        if lock:
            micropython.heap_lock()
        try:
            band.step()
            radio.service()
            q.ack(radio._cursor - 1)  # the host commits what it got
        finally:
            if lock:
                micropython.heap_unlock()

run(3, False)
run(100, True)
ble.values[radio.h_control] = packet_host.encode_control(packet_host.OP_RAW, 2, 1)
h(3, (9, radio.h_control))  # raw streaming on: every sample also goes out
radio.service()
run(1, False)
run(50, True)
seqs = [packet_host.decode(SENT, 42 * k)[0] for k in range(NSENT[0])]
kinds = sorted(set(packet_host.decode(SENT, 42 * k)[2] for k in range(NSENT[0])))
print("RADIO", NSENT[0], NSENT[1], radio.sent, q.next_seq() - 1, int(seqs == list(range(1, len(seqs) + 1))),
      ",".join(str(k) for k in kinds), band.samples_in, sys.modules["anklet_fw.radio"].__file__)
"""


def test_esp32_build_sends_events_and_raw_under_heap_lock(band32: str, tmp_path: Path) -> None:
    # The ESP32 build as it boots (hw_esp32 with its radio, on the stand-ins), a connected host, and two
    # and a half minutes of samples with a shaking episode: every wake-up reads the FIFO, runs the
    # detector, writes events to flash and notifies them, all with the heap locked.
    fs = 52
    counts = counts_from_g(shake(still(160, fs), fs, 10, 90, 2.0, 0.4))
    (tmp_path / "trace.bin").write_bytes(np.ascontiguousarray(counts, dtype="<i2").tobytes())
    paths = ", ".join(repr(str(p)) for p in _esp32_fakes(tmp_path))
    out = _ok(b32.run(RADIO_SCRIPT.format(paths=paths), cwd=tmp_path), "RADIO")
    notified, raw_frames, sent, last_seq, in_order, kinds, samples, radio_file = out.split()
    print(f"\nESP32 build: {out}")
    assert radio_file == "anklet_fw/radio.py"
    assert int(samples) == 154 * fs
    assert int(notified) == int(sent) == int(last_seq)  # every event held was sent once, in order
    assert in_order == "1"
    assert {"1", "3", "5"} <= set(kinds.split(","))  # START and END under the lock; BOOT before it
    assert int(raw_frames) > 0


def test_frozen_virtual_band_flash_run_and_replay(band32: str, tmp_path: Path) -> None:
    # `anklet vband --frozen`: the band's memory layout (firmware in the image, a heap of FROZEN_HEAP), driven
    # like a band with the real mpremote: flash installs main.py only, the loop runs, the device engine replays.
    import shutil
    import signal
    import sys

    import pytest
    from test_fw_vband import band_state, mp, shaking_trace

    from anklet import engines, flash, replay

    if shutil.which("socat") is None:  # pragma: no cover - make test installs it
        pytest.skip("SOCAT IS MISSING: the virtual band needs it (apt-get install socat; `make test` does this)")
    trace = tmp_path / "shake.csv"
    shaking_trace(trace)
    folder = tmp_path / "vb"
    stale = folder / "anklet_fw"
    stale.mkdir(parents=True)
    (stale / "band.py").write_text("raise ImportError('a stale file shadowed the frozen firmware')\n")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "anklet"), "vband", "--dir", str(folder), "--trace",
                             str(trace), "--fs", "52", "--speed", "20", "--frozen"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert "frozen 32-bit build" in line, line
        port = str(folder / "tty")
        assert flash.flash(port) == ["main.py"]
        assert not stale.exists() and (folder / "main.py").exists()
        st = band_state(port)
        assert st["boot"] == 1 and st["part"] == "LSM6DS3TR-C" and st["fs"] == 52
        out = mp(port, "resume", "exec", "import gc, sys; from anklet_fw import app; gc.collect(); "
                 "print('APP', app.__file__, sys.maxsize, gc.mem_alloc())")
        app_file, maxsize, used = out.split("APP", 1)[1].split()
        assert app_file == "anklet_fw/app.py" and int(maxsize) == 2**31 - 1
        print(f"\nfrozen virtual band, running, REPL and mpremote's code included: {used} B of the heap in use")
        counts = replay.load_counts(str(trace), 50, 8)
        want = engines.ENGINES["firmware"](counts, 50, 8)
        assert engines.ENGINES["device"](counts, 50, 8, port=port) == want and len(want) >= 3
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
