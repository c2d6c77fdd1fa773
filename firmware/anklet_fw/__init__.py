# anklet band firmware. The pure-Python modules here (detector, events, packet)
# also run under CPython: the host imports these same files.
VERSION = (0, 1, 0)
