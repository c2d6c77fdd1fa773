# Byte layout of an event record and of the radio's frames: the band's half.
#
# Used by the flash queue (records on flash) and the radio (notifications).
# The band writes events, status, replies and raw frames and reads the host's
# commands; the readers of the rest are in packet_host.py, which shares these
# constants and helpers and is never loaded on the band (its RAM).
#
# An event packet is little-endian, versioned, CRC-checked:
#   0 u8  version        1 u8  kind        2 u32 seq
#   6 u16 boot id        8 u32 t_ms       12 7 x i32 fields
#  40 u16 CRC-16/CCITT-FALSE of bytes 0..39
# encode_into() writes into a caller's buffer with shifts only, so it neither
# allocates nor builds large ints (ESP32 small ints stop at 2**30).
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


VERSION = const(1)
SIZE = const(42)
_BODY = const(40)


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


def put_le(buf, pos, value, nbytes):
    for i in range(nbytes):
        buf[pos + i] = (value >> (8 * i)) & 0xFF


def encode_into(buf, off, seq, boot, rec, rec_off=0):
    """Write the event at rec[rec_off:rec_off+9] (kind, t_ms, 7 fields) as one packet at buf[off:off+42]."""
    buf[off] = VERSION
    buf[off + 1] = rec[rec_off]
    put_le(buf, off + 2, seq, 4)
    put_le(buf, off + 6, boot, 2)
    put_le(buf, off + 8, rec[rec_off + 1], 4)
    for i in range(7):
        put_le(buf, off + 12 + 4 * i, rec[rec_off + 2 + i], 4)
    put_le(buf, off + _BODY, crc16(buf, off, off + _BODY), 2)


# ---------------------------------------------------------------------------
# Radio frames (docs/protocol.md). Same conventions as the event packet:
# byte 0 is VERSION, little-endian, CRC-16/CCITT-FALSE over everything before
# the last two bytes. These run once per command or status read, not per
# sample, so they may allocate a little; raw frames are built in place.

# Control commands the host writes, and the band's error codes.
OP_ACK = const(1)  # seq u32, boot u16: every event up to seq is committed
OP_RESUME = const(2)  # after u32, boot u16: (re)send every event after `after` (logged under `boot`); RESUME_OLDEST = all held
OP_TIME = const(3)  # unix_s u32, ms u16: the host's wall clock now
OP_SETTING = const(4)  # key u8, value i32
OP_RAW = const(5)  # on u8: raw sample streaming on (1) or off (0)
OP_IDENTIFY = const(6)  # seconds u8: blink so the parent can tell which band it is
RESUME_OLDEST = 0xFFFFFFFF
BOOT_UNKNOWN = const(0xFFFF)  # RESUME's boot when the host cannot say

ERR_OK = const(0)
ERR_LENGTH = const(1)  # frame shorter or longer than its header says
ERR_VERSION = const(2)
ERR_CRC = const(3)
ERR_OP = const(4)  # unknown command
ERR_VALUE = const(5)  # a field is out of range (ack beyond what was sent, bad setting...)
ERR_STATE = const(6)  # not now: link not secured, or nothing to resume
ERR_UNSUPPORTED = const(7)  # this band cannot do it (no LED, setting unknown)

CTRL_HDR = const(4)  # version, op, token, payload length
CTRL_MAX = const(32)  # longest control frame the band accepts
CTRL_PLEN = {OP_ACK: 6, OP_RESUME: 6, OP_TIME: 6, OP_SETTING: 5, OP_RAW: 1, OP_IDENTIFY: 1}
REPLY_SIZE = const(10)  # version, op | 0x80, token, status, value u32, CRC


class ControlError(PacketError):
    """A control frame the band refuses; `code` is the ERR_* it answers with."""

    def __init__(self, code, msg, op=0, token=0):
        super().__init__(msg)
        self.code = code
        self.op = op
        self.token = token


def get_le(data, pos, nbytes):
    v = 0
    for i in range(nbytes):
        v |= data[pos + i] << (8 * i)
    return v


def seal(buf):
    n = len(buf) - 2
    put_le(buf, n, crc16(buf, 0, n), 2)
    return buf


def decode_control(data):
    """Return (op, token, args) of a command frame or raise ControlError with the code to answer."""
    n = len(data)
    op = data[1] if n > 1 else 0
    token = data[2] if n > 2 else 0
    if n < CTRL_HDR + 2:
        raise ControlError(ERR_LENGTH, "control frame truncated: %d bytes" % n, op, token)
    if n > CTRL_MAX:
        raise ControlError(ERR_LENGTH, "control frame oversized: %d bytes" % n, op, token)
    if data[0] != VERSION:
        raise ControlError(ERR_VERSION, "unknown control version %d" % data[0], op, token)
    if data[3] + CTRL_HDR + 2 != n:
        raise ControlError(ERR_LENGTH, "control length %d does not match frame of %d bytes" % (data[3], n),
                           op, token)
    got = data[n - 2] | (data[n - 1] << 8)
    if got != crc16(data, 0, n - 2):
        raise ControlError(ERR_CRC, "control CRC mismatch", op, token)
    plen = CTRL_PLEN.get(op)
    if plen is None:
        raise ControlError(ERR_OP, "unknown control op %d" % op, op, token)
    if plen != data[3]:
        raise ControlError(ERR_LENGTH, "op %d needs %d payload bytes, got %d" % (op, plen, data[3]), op, token)
    p = CTRL_HDR
    args: tuple  # one to two ints, depending on the op
    if op == OP_ACK:
        args = (get_le(data, p, 4), get_le(data, p + 4, 2))
    elif op == OP_RESUME:
        args = (get_le(data, p, 4), get_le(data, p + 4, 2))
    elif op == OP_TIME:
        args = (get_le(data, p, 4), get_le(data, p + 4, 2))
    elif op == OP_SETTING:
        v = get_le(data, p + 1, 4)
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
    put_le(buf, 4, value & 0xFFFFFFFF, 4)
    seal(buf)


# Status frame (read or notified on the status characteristic).
STATUS_SIZE = const(44)
SF_WORN = const(1)
SF_RAW = const(2)  # raw streaming is on
SF_PAIRING = const(4)  # the band accepts a new pairing now
SF_TIME = const(8)  # the host has set the time since boot
STATUS_LAYOUT = ((1, 1), (2, 2), (4, 1), (6, 4), (10, 4), (14, 4), (18, 2), (20, 4), (24, 4), (28, 4),
                  (32, 4), (36, 6))  # (offset, width) per STATUS_FIELDS; 42 u16 CRC


def encode_status_into(buf, values):
    """values: the STATUS_FIELDS in order (uid a 48-bit int); buf is STATUS_SIZE long."""
    buf[0] = VERSION
    for i in range(len(STATUS_LAYOUT)):
        pos, w = STATUS_LAYOUT[i]
        put_le(buf, pos, values[i], w)
    put_le(buf, 42, crc16(buf, 0, 42), 2)


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
    put_le(buf, 4, first_index, 4)


def raw_add_into(buf, x, y, z):
    """Append one sample to the frame being built in buf; returns the new count. No allocation."""
    n = buf[1]
    pos = RAW_HDR + 6 * n
    put_le(buf, pos, x & 0xFFFF, 2)
    put_le(buf, pos + 2, y & 0xFFFF, 2)
    put_le(buf, pos + 4, z & 0xFFFF, 2)
    buf[1] = n + 1
    return n + 1


def raw_seal(buf):
    """Write the CRC after the samples; returns the frame's length."""
    end = RAW_HDR + 6 * buf[1]
    put_le(buf, end, crc16(buf, 0, end), 2)
    return end + 2
