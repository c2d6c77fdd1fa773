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
