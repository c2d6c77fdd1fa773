# Byte layout of an event record: the only encoder and decoder of it.
#
# Used by the flash queue (records on flash) and the radio (notifications).
# Little-endian, versioned, CRC-checked:
#   0 u8  version        1 u8  kind        2 u32 seq
#   6 u16 boot id        8 u32 t_ms       12 7 x i32 fields
#  40 u16 CRC-16/CCITT-FALSE of bytes 0..39
# encode_into() writes into a caller's buffer with shifts only, so it neither
# allocates nor builds large ints (ESP32 small ints stop at 2**30).
import struct

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


VERSION = const(1)
SIZE = const(42)
_BODY = const(40)
_FMT = "<BBIHI7i"


class PacketError(ValueError):
    pass


def crc16(buf, start, end):
    crc = 0xFFFF
    for i in range(start, end):
        crc ^= buf[i] << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc


def _put(buf, pos, value, nbytes):
    for i in range(nbytes):
        buf[pos + i] = (value >> (8 * i)) & 0xFF


def encode_into(buf, off, seq, boot, rec, rec_off=0):
    """Write the event at rec[rec_off:rec_off+9] (kind, t_ms, 7 fields) as one packet at buf[off:off+42]."""
    buf[off] = VERSION
    buf[off + 1] = rec[rec_off]
    _put(buf, off + 2, seq, 4)
    _put(buf, off + 6, boot, 2)
    _put(buf, off + 8, rec[rec_off + 1], 4)
    for i in range(7):
        _put(buf, off + 12 + 4 * i, rec[rec_off + 2 + i], 4)
    _put(buf, off + _BODY, crc16(buf, off, off + _BODY), 2)


def encode(seq, boot, rec):
    buf = bytearray(SIZE)
    encode_into(buf, 0, seq, boot, rec)
    return bytes(buf)


def decode(data, off=0):
    """Return (seq, boot, kind, t_ms, fields) or raise PacketError saying what is wrong."""
    if len(data) - off < SIZE:
        raise PacketError("packet truncated: %d bytes, need %d" % (len(data) - off, SIZE))
    if data[off] != VERSION:
        raise PacketError("unknown packet version %d" % data[off])
    got = data[off + _BODY] | (data[off + _BODY + 1] << 8)
    want = crc16(data, off, off + _BODY)
    if got != want:
        raise PacketError("CRC mismatch: got %04x, computed %04x" % (got, want))
    v = struct.unpack_from(_FMT, data, off)
    return v[2], v[3], v[1], v[4], v[5:]


# ---------------------------------------------------------------------------
# Radio frames (docs/protocol.md). Same conventions as the event packet:
# byte 0 is VERSION, little-endian, CRC-16/CCITT-FALSE over everything before
# the last two bytes. These run once per command or status read, not per
# sample, so they may allocate a little; raw frames are built in place.

# Control commands the host writes, and the band's error codes.
OP_ACK = const(1)  # seq u32, boot u16: every event up to seq is committed
OP_RESUME = const(2)  # after u32: (re)send every event after `after`; RESUME_OLDEST = all held
OP_TIME = const(3)  # unix_s u32, ms u16: the host's wall clock now
OP_SETTING = const(4)  # key u8, value i32
OP_RAW = const(5)  # on u8: raw sample streaming on (1) or off (0)
OP_IDENTIFY = const(6)  # seconds u8: blink so the parent can tell which band it is
RESUME_OLDEST = 0xFFFFFFFF

ERR_OK = const(0)
ERR_LENGTH = const(1)  # frame shorter or longer than its header says
ERR_VERSION = const(2)
ERR_CRC = const(3)
ERR_OP = const(4)  # unknown command
ERR_VALUE = const(5)  # a field is out of range (ack beyond what was sent, bad setting...)
ERR_STATE = const(6)  # not now: link not secured, or nothing to resume
ERR_UNSUPPORTED = const(7)  # this band cannot do it (no LED, setting unknown)

ERR_NAMES = ("ok", "bad length", "unknown version", "CRC mismatch", "unknown command",
             "value out of range", "not allowed in this state", "unsupported")

_CTRL_HDR = const(4)  # version, op, token, payload length
CTRL_MAX = const(32)  # longest control frame the band accepts
_CTRL_PLEN = {OP_ACK: 6, OP_RESUME: 4, OP_TIME: 6, OP_SETTING: 5, OP_RAW: 1, OP_IDENTIFY: 1}
REPLY_SIZE = const(10)  # version, op | 0x80, token, status, value u32, CRC


class ControlError(PacketError):
    """A control frame the band refuses; `code` is the ERR_* it answers with."""

    def __init__(self, code, msg, op=0, token=0):
        super().__init__(msg)
        self.code = code
        self.op = op
        self.token = token


def _get(data, pos, nbytes):
    v = 0
    for i in range(nbytes):
        v |= data[pos + i] << (8 * i)
    return v


def _seal(buf):
    n = len(buf) - 2
    _put(buf, n, crc16(buf, 0, n), 2)
    return buf


def _check_crc(data, what):
    n = len(data) - 2
    got = data[n] | (data[n + 1] << 8)
    want = crc16(data, 0, n)
    if got != want:
        raise PacketError("%s CRC mismatch: got %04x, computed %04x" % (what, got, want))


def encode_control(op, token, *args):
    """The host's command frame: ACK(seq, boot), RESUME(after), TIME(unix_s, ms), SETTING(key, value),
    RAW(on), IDENTIFY(seconds). Values are range-checked here so the host cannot send nonsense."""
    plen = _CTRL_PLEN.get(op)
    if plen is None:
        raise ValueError("unknown control op %d" % op)
    widths = {OP_ACK: (4, 2), OP_RESUME: (4,), OP_TIME: (4, 2), OP_SETTING: (1, 4), OP_RAW: (1,),
              OP_IDENTIFY: (1,)}[op]
    if len(args) != len(widths):
        raise ValueError("op %d takes %d values" % (op, len(widths)))
    buf = bytearray(_CTRL_HDR + plen + 2)
    buf[0] = VERSION
    buf[1] = op
    buf[2] = token & 0xFF
    buf[3] = plen
    pos = _CTRL_HDR
    for i in range(len(widths)):
        w, v = widths[i], args[i]
        if op == OP_SETTING and w == 4:
            if not -(1 << 31) <= v < (1 << 31):
                raise ValueError("setting value %d does not fit i32" % v)
            v &= 0xFFFFFFFF
        elif not 0 <= v < (1 << (8 * w)):
            raise ValueError("value %d does not fit %d bytes" % (v, w))
        _put(buf, pos, v, w)
        pos += w
    return bytes(_seal(buf))


def decode_control(data):
    """Return (op, token, args) of a command frame or raise ControlError with the code to answer."""
    n = len(data)
    op = data[1] if n > 1 else 0
    token = data[2] if n > 2 else 0
    if n < _CTRL_HDR + 2:
        raise ControlError(ERR_LENGTH, "control frame truncated: %d bytes" % n, op, token)
    if n > CTRL_MAX:
        raise ControlError(ERR_LENGTH, "control frame oversized: %d bytes" % n, op, token)
    if data[0] != VERSION:
        raise ControlError(ERR_VERSION, "unknown control version %d" % data[0], op, token)
    if data[3] + _CTRL_HDR + 2 != n:
        raise ControlError(ERR_LENGTH, "control length %d does not match frame of %d bytes" % (data[3], n),
                           op, token)
    got = data[n - 2] | (data[n - 1] << 8)
    if got != crc16(data, 0, n - 2):
        raise ControlError(ERR_CRC, "control CRC mismatch", op, token)
    plen = _CTRL_PLEN.get(op)
    if plen is None:
        raise ControlError(ERR_OP, "unknown control op %d" % op, op, token)
    if plen != data[3]:
        raise ControlError(ERR_LENGTH, "op %d needs %d payload bytes, got %d" % (op, plen, data[3]), op, token)
    p = _CTRL_HDR
    args: tuple  # one to two ints, depending on the op
    if op == OP_ACK:
        args = (_get(data, p, 4), _get(data, p + 4, 2))
    elif op == OP_RESUME:
        args = (_get(data, p, 4),)
    elif op == OP_TIME:
        args = (_get(data, p, 4), _get(data, p + 4, 2))
    elif op == OP_SETTING:
        v = _get(data, p + 1, 4)
        if v & 0x80000000:
            v -= 0x100000000
        args = (data[p], v)
    else:
        args = (data[p],)
    return op, token, args


def encode_reply_into(buf, op, token, status, value):
    """The band's answer to a command (notified on the control characteristic); buf is REPLY_SIZE long."""
    buf[0] = VERSION
    buf[1] = (op & 0x7F) | 0x80
    buf[2] = token & 0xFF
    buf[3] = status
    _put(buf, 4, value & 0xFFFFFFFF, 4)
    _seal(buf)


def decode_reply(data):
    """Return (op, token, status, value) of the band's answer or raise PacketError."""
    if len(data) != REPLY_SIZE:
        raise PacketError("reply of %d bytes, need %d" % (len(data), REPLY_SIZE))
    if data[0] != VERSION:
        raise PacketError("unknown reply version %d" % data[0])
    if not data[1] & 0x80:
        raise PacketError("not a reply: op byte %02x" % data[1])
    _check_crc(data, "reply")
    return data[1] & 0x7F, data[2], data[3], _get(data, 4, 4)


# Status frame (read or notified on the status characteristic).
STATUS_SIZE = const(44)
SF_WORN = const(1)
SF_RAW = const(2)  # raw streaming is on
SF_PAIRING = const(4)  # the band accepts a new pairing now
SF_TIME = const(8)  # the host has set the time since boot
STATUS_FIELDS = ("flags", "battery_mv", "battery_pct", "fifo_overflows", "queue_depth", "uptime_s", "boot",
                 "fw_version", "first_seq", "next_seq", "dropped", "uid")
_STATUS_LAYOUT = ((1, 1), (2, 2), (4, 1), (6, 4), (10, 4), (14, 4), (18, 2), (20, 4), (24, 4), (28, 4),
                  (32, 4), (36, 6))  # (offset, width) per STATUS_FIELDS; 42 u16 CRC


def encode_status_into(buf, values):
    """values: the STATUS_FIELDS in order (uid a 48-bit int); buf is STATUS_SIZE long."""
    buf[0] = VERSION
    for i in range(len(_STATUS_LAYOUT)):
        pos, w = _STATUS_LAYOUT[i]
        _put(buf, pos, values[i], w)
    _put(buf, 42, crc16(buf, 0, 42), 2)


def decode_status(data):
    """Return a dict of STATUS_FIELDS or raise PacketError."""
    if len(data) != STATUS_SIZE:
        raise PacketError("status of %d bytes, need %d" % (len(data), STATUS_SIZE))
    if data[0] != VERSION:
        raise PacketError("unknown status version %d" % data[0])
    _check_crc(data, "status")
    out = {}
    for i in range(len(_STATUS_LAYOUT)):
        pos, w = _STATUS_LAYOUT[i]
        out[STATUS_FIELDS[i]] = _get(data, pos, w)
    return out


# Raw sample frame (raw characteristic): up to RAW_MAX samples of x, y, z i16 counts.
#   0 u8 version  1 u8 n  2 u8 fs_hz  3 u8 range_g  4 u32 index of the first sample
#   8 n x (x, y, z) i16   8+6n u16 CRC
RAW_HDR = const(8)
RAW_MAX = const(20)


def raw_frame_size(n):
    return RAW_HDR + 6 * n + 2


def raw_start_into(buf, fs_hz, range_g, first_index):
    buf[0] = VERSION
    buf[1] = 0
    buf[2] = fs_hz
    buf[3] = range_g
    _put(buf, 4, first_index, 4)


def raw_add_into(buf, x, y, z):
    """Append one sample to the frame being built in buf; returns the new count. No allocation."""
    n = buf[1]
    pos = RAW_HDR + 6 * n
    _put(buf, pos, x & 0xFFFF, 2)
    _put(buf, pos + 2, y & 0xFFFF, 2)
    _put(buf, pos + 4, z & 0xFFFF, 2)
    buf[1] = n + 1
    return n + 1


def raw_seal(buf):
    """Write the CRC after the samples; returns the frame's length."""
    end = RAW_HDR + 6 * buf[1]
    _put(buf, end, crc16(buf, 0, end), 2)
    return end + 2


def decode_raw(data):
    """Return (fs_hz, range_g, first_index, [(x, y, z), ...]) or raise PacketError."""
    if len(data) < RAW_HDR + 2:
        raise PacketError("raw frame truncated: %d bytes" % len(data))
    if data[0] != VERSION:
        raise PacketError("unknown raw frame version %d" % data[0])
    n = data[1]
    if n > RAW_MAX or len(data) != raw_frame_size(n):
        raise PacketError("raw frame of %d bytes does not hold %d samples" % (len(data), n))
    _check_crc(data, "raw frame")
    out = []
    for i in range(n):
        pos = RAW_HDR + 6 * i
        s = []
        for k in range(3):
            v = _get(data, pos + 2 * k, 2)
            s.append(v - 0x10000 if v & 0x8000 else v)
        out.append(tuple(s))
    return data[2], data[3], _get(data, 4, 4), out
