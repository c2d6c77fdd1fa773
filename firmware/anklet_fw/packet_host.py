# The host's half of the wire format (packet.py is the band's): decoders of
# what the band sends (event packets, replies, status and raw frames) and the
# encoder of the host's commands, with their error texts.
#
# It re-exports packet.py, so a reader imports this one module. It runs on
# CPython and under the unix port (the tests) but is never installed on the
# band: every function and name loaded there costs heap the band needs.
import struct

from .packet import *  # noqa: F403  (the shared constants and helpers)
from .packet import (
    CTRL_HDR,
    CTRL_PLEN,
    OP_ACK,
    OP_IDENTIFY,
    OP_RAW,
    OP_RESUME,
    OP_SETTING,
    OP_TIME,
    RAW_HDR,
    RAW_MAX,
    REPLY_SIZE,
    SIZE,
    STATUS_LAYOUT,
    STATUS_SIZE,
    VERSION,
    PacketError,
    crc16,
    encode_into,
    get_le,
    put_le,
    raw_frame_size,
    seal,
)

_FMT = "<BBIHI7i"
_CRC_AT = SIZE - 2


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
    got = data[off + _CRC_AT] | (data[off + _CRC_AT + 1] << 8)
    want = crc16(data, off, off + _CRC_AT)
    if got != want:
        raise PacketError("CRC mismatch: got %04x, computed %04x" % (got, want))
    v = struct.unpack_from(_FMT, data, off)
    return v[2], v[3], v[1], v[4], v[5:]


ERR_NAMES = ("ok", "bad length", "unknown version", "CRC mismatch", "unknown command",
             "value out of range", "not allowed in this state", "unsupported")
STATUS_FIELDS = ("flags", "battery_mv", "battery_pct", "fifo_overflows", "queue_depth", "uptime_s", "boot",
                 "fw_version", "first_seq", "next_seq", "dropped", "uid")  # in STATUS_LAYOUT order


def _check_crc(data, what):
    n = len(data) - 2
    got = data[n] | (data[n + 1] << 8)
    want = crc16(data, 0, n)
    if got != want:
        raise PacketError("%s CRC mismatch: got %04x, computed %04x" % (what, got, want))


def encode_control(op, token, *args):
    """The host's command frame: ACK(seq, boot), RESUME(after, boot), TIME(unix_s, ms), SETTING(key, value),
    RAW(on), IDENTIFY(seconds). Values are range-checked here so the host cannot send nonsense."""
    plen = CTRL_PLEN.get(op)
    if plen is None:
        raise ValueError("unknown control op %d" % op)
    widths = {OP_ACK: (4, 2), OP_RESUME: (4, 2), OP_TIME: (4, 2), OP_SETTING: (1, 4), OP_RAW: (1,),
              OP_IDENTIFY: (1,)}[op]
    if len(args) != len(widths):
        raise ValueError("op %d takes %d values" % (op, len(widths)))
    buf = bytearray(CTRL_HDR + plen + 2)
    buf[0] = VERSION
    buf[1] = op
    buf[2] = token & 0xFF
    buf[3] = plen
    pos = CTRL_HDR
    for i in range(len(widths)):
        w, v = widths[i], args[i]
        if op == OP_SETTING and w == 4:
            if not -(1 << 31) <= v < (1 << 31):
                raise ValueError("setting value %d does not fit i32" % v)
            v &= 0xFFFFFFFF
        elif not 0 <= v < (1 << (8 * w)):
            raise ValueError("value %d does not fit %d bytes" % (v, w))
        put_le(buf, pos, v, w)
        pos += w
    return bytes(seal(buf))


def decode_reply(data):
    """Return (op, token, status, value) of the band's answer or raise PacketError."""
    if len(data) != REPLY_SIZE:
        raise PacketError("reply of %d bytes, need %d" % (len(data), REPLY_SIZE))
    if data[0] != VERSION:
        raise PacketError("unknown reply version %d" % data[0])
    if not data[1] & 0x80:
        raise PacketError("not a reply: op byte %02x" % data[1])
    _check_crc(data, "reply")
    return data[1] & 0x7F, data[2], data[3], get_le(data, 4, 4)


def version_text(packed):
    """The firmware version as the band sends it (0x00MMmmpp, anklet_fw.VERSION_PACKED) as "major.minor.patch"."""
    return "%d.%d.%d" % ((packed >> 16) & 0xFF, (packed >> 8) & 0xFF, packed & 0xFF)


def decode_status(data):
    """Return a dict of STATUS_FIELDS or raise PacketError."""
    if len(data) != STATUS_SIZE:
        raise PacketError("status of %d bytes, need %d" % (len(data), STATUS_SIZE))
    if data[0] != VERSION:
        raise PacketError("unknown status version %d" % data[0])
    _check_crc(data, "status")
    out = {}
    for i in range(len(STATUS_LAYOUT)):
        pos, w = STATUS_LAYOUT[i]
        out[STATUS_FIELDS[i]] = get_le(data, pos, w)
    return out


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
            v = get_le(data, pos + 2 * k, 2)
            s.append(v - 0x10000 if v & 0x8000 else v)
        out.append(tuple(s))
    return data[2], data[3], get_le(data, 4, 4), out
