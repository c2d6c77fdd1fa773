# Feed a recorded trace through the detector: the developers' on-device replay.
#
# The trace is raw counts, int16 little-endian, x y z interleaved (what the
# host's trace reader writes). Events are printed one per line as
#   E,kind,t_ms,f0,...,f6
# With lock=True the whole run happens under micropython.heap_lock(): the
# trace is read into RAM first, events land in a preallocated table, and any
# allocation in the detector's path raises MemoryError instead of passing.
from array import array

from .detector import Detector

_CHUNK = 256  # samples per read


def _print(rec):
    print("E," + ",".join(str(v) for v in rec))


def run_file(path, fs=50, range_g=8):
    det = Detector(fs, range_g)
    buf = array("h", bytes(6 * _CHUNK))
    rec = array("i", bytes(36))
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            for i in range(0, n // 2 - 2, 3):
                det.push(buf[i], buf[i + 1], buf[i + 2])
                while det.pop_into(rec):
                    _print(rec)
    print("D,%d,%d" % (det.hops, det.overrun))
    return det


def run_locked(path, fs=50, range_g=8, max_events=512):
    import gc

    import micropython

    with open(path, "rb") as f:
        data = f.read()
    samples = array("h", bytes(len(data)))
    mv = memoryview(samples)
    mv8 = memoryview(data)
    # Copy bytes into the int16 array without struct (little-endian on both hosts and ESP32).
    for i in range(len(data) // 2):
        lo = mv8[2 * i]
        hi = mv8[2 * i + 1]
        v = lo | (hi << 8)
        mv[i] = v - 65536 if v >= 32768 else v
    del data
    det = Detector(fs, range_g)
    table = array("i", bytes(36 * max_events))
    rec = array("i", bytes(36))
    gc.collect()
    before = gc.mem_alloc()
    n = len(samples) - 2
    count = 0
    micropython.heap_lock()
    try:
        for i in range(0, n, 3):
            det.push(samples[i], samples[i + 1], samples[i + 2])
            while det.pop_into(rec):
                if count < max_events:
                    for j in range(9):
                        table[count * 9 + j] = rec[j]
                    count += 1
    finally:
        micropython.heap_unlock()
    after = gc.mem_alloc()
    for e in range(count):
        _print(table[e * 9: e * 9 + 9])
    print("D,%d,%d" % (det.hops, det.overrun))
    print("M,%d,%d" % (before, after))
    return det
