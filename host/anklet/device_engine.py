"""The `device` replay engine: run a trace through the detector on a band (or virtual band) via mpremote.

    anklet replay TRACE.csv --engine device --port /dev/ttyACM0

The band's loop is interrupted (Ctrl-C, as mpremote always does), a fresh Detector is made on the band,
the counts are sent in base64 chunks through the raw REPL and pushed sample by sample, and every event
comes back as a line `E,kind,t_ms,f0..f6` (the format of anklet_fw.feed). The band is reset afterwards
so its own loop starts again. Same detector code, same integer counts: the same events as the other
engines, which the test suite checks on the virtual band.
"""

from __future__ import annotations

import base64

import numpy as np

from .engines import EngineError, parse_feed_output
from .records import DeviceEvent

CHUNK_SAMPLES = 1024

SETUP = """
import binascii, struct
from array import array
from anklet_fw.detector import Detector
_det = Detector({fs}, {range_g})
_rec = array('i', [0] * 9)
def _feed(s):
    b = binascii.a2b_base64(s)
    v = struct.unpack('<%dh' % (len(b) // 2), b)
    push, pop, rec = _det.push, _det.pop_into, _rec
    for i in range(0, len(v) - 2, 3):
        push(v[i], v[i + 1], v[i + 2])
        while pop(rec):
            print('E,' + ','.join([str(x) for x in rec]))
"""


def run_device(counts: np.ndarray, fs: int, range_g: int, *, port: str | None = None, reset: bool = True,
               **_: object) -> list[DeviceEvent]:
    if not port:
        raise EngineError("the device engine needs --port (a band's serial port or a virtual band's pty)")
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    data = np.ascontiguousarray(counts, dtype="<i2")
    try:
        t = SerialTransport(port, baudrate=115200)
    except TransportError as exc:
        raise EngineError(f"cannot open {port}: {exc}") from exc
    out = []
    try:
        t.enter_raw_repl(soft_reset=False)
        t.exec(SETUP.format(fs=int(fs), range_g=int(range_g)))
        for i in range(0, len(data), CHUNK_SAMPLES):
            chunk = base64.b64encode(data[i : i + CHUNK_SAMPLES].tobytes()).decode()
            out.append(t.exec(f"_feed('{chunk}')").decode())
        out.append(t.exec("print('D,%d,%d' % (_det.hops, _det.overrun))").decode())
        if reset:
            t.exec_raw_no_follow("import machine; machine.reset()")
    except TransportError as exc:
        raise EngineError(f"the band on {port} failed: {exc}") from exc
    finally:
        try:
            t.close()
        except OSError:
            pass
    events, diag = parse_feed_output("".join(out))
    if diag.get("overrun"):
        raise EngineError(f"the band's detector overran its event ring ({diag['overrun']} events lost)")
    return events
