# anklet band firmware. The pure-Python modules here (detector, events, packet)
# also run under CPython: the host imports these same files.
VERSION = (0, 1, 0)
# As the band sends it (status frame, BOOT event): 0x00MMmmpp. The host reads it with packet_host.version_text.
VERSION_PACKED = (VERSION[0] << 16) | (VERSION[1] << 8) | VERSION[2]
