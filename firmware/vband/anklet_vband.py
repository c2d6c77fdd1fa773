# The virtual band's console: a MicroPython REPL, raw REPL included, over stdin
# and stdout, so mpremote can drive the unix port as it drives a board.
#
# Run by `anklet vband` as `micropython -c "import anklet_vband; anklet_vband.main()"`
# with the band's folder as the current directory (its filesystem) and socat
# joining stdin/stdout to a pty. Like a board it runs main.py at power-on and
# after a soft reset from the friendly REPL; Ctrl-C interrupts it (the band's
# loop polls interrupt() every wake-up); machine.reset() starts over with a fresh
# import of everything in the folder (what `anklet flash` installed).
# Paths in the band's folder are relative: an absolute path reaches the host's
# own filesystem, so keep to relative ones.
import gc
import os
import select
import sys

_IN = sys.stdin.buffer
_OUT = sys.stdout.buffer
_poll = select.poll()
_poll.register(sys.stdin, select.POLLIN)
_pending = bytearray()
_BANNER = "MicroPython (anklet virtual band) on unix\r\nType \"help()\" for more information.\r\n"
_RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"


class HardReset(Exception):
    pass


class _Machine:
    """Stands in for the `machine` module the unix port lacks: reset, unique_id, reset_cause."""

    PWRON_RESET = 1
    HARD_RESET = 2
    WDT_RESET = 3
    DEEPSLEEP_RESET = 4
    SOFT_RESET = 5
    cause = 1

    @staticmethod
    def reset():
        raise HardReset()

    @staticmethod
    def soft_reset():
        raise HardReset()

    @staticmethod
    def unique_id():
        return b"\x00\x00\xa1\x1e\x7b\x01"

    @staticmethod
    def reset_cause():
        return _Machine.cause


def _write(b):
    if isinstance(b, str):
        b = b.encode()
    _OUT.write(b)


def _getc():
    if _pending:
        c = _pending[0]
        _pending[:] = _pending[1:]
        return c
    b = _IN.read(1)
    if not b:
        raise SystemExit(0)  # the host went away
    return b[0]


def interrupt():
    """Called by the running band between wake-ups: KeyboardInterrupt if Ctrl-C arrived."""
    while _poll.poll(0):
        b = _IN.read(1)
        if not b:
            raise SystemExit(0)
        if b[0] == 3:
            _pending[:] = b""
            raise KeyboardInterrupt()
        _pending.append(b[0])


_base_modules = set()


def _forget_modules():
    # A reset imports everything afresh from the folder, as a reboot would.
    for name in list(sys.modules):
        if name not in _base_modules:
            del sys.modules[name]
    sys.modules["machine"] = _Machine
    gc.collect()


def _new_globals():
    return {"__name__": "__main__"}


def _run_main(reason):
    try:
        os.stat("main.py")
    except OSError:
        return
    _Machine.cause = reason
    try:
        with open("main.py") as f:
            code = f.read()
        exec(code, _new_globals())
    except KeyboardInterrupt:
        _write("\r\nKeyboardInterrupt: main.py stopped\r\n")
    except HardReset:
        raise
    except Exception as e:  # the board would print it and drop to the REPL
        sys.print_exception(e)


_WINDOW = 4096


def _raw_paste():
    # Raw-paste mode: announce a window, grant another each time one is used up, stop at Ctrl-D.
    _write(b"R\x01" + bytes((_WINDOW & 0xFF, _WINDOW >> 8)))
    code = bytearray()
    left = _WINDOW
    while True:
        c = _getc()
        if c == 4:
            _write(b"\x04")
            return code
        code.append(c)
        left -= 1
        if left == 0:
            left = _WINDOW
            _write(b"\x01")


def _raw_repl(g):
    """Raw REPL: returns "friendly" on Ctrl-B, "soft" on Ctrl-D with no code."""
    _write(_RAW_BANNER)
    while True:
        code = bytearray()
        pasted = False
        while True:
            c = _getc()
            if c == 4:
                break
            if c == 2:
                _write("\r\n")
                return "friendly"
            if c == 1:
                code = bytearray()
                _write(_RAW_BANNER)
                continue
            if c == 3:
                code = bytearray()
                continue
            if c == 5 and not code:
                _getc()  # "A"
                _getc()  # Ctrl-A
                code = _raw_paste()
                pasted = True
                break
            code.append(c)
        if not code and not pasted:
            _write("OK\r\n")
            return "soft"
        if not pasted:
            _write("OK")
        try:
            exec(bytes(code), g)
            _write(b"\x04")
        except HardReset:
            _write(b"\x04\x04")
            raise
        except BaseException as e:  # noqa: BLE001  (everything is reported, as the board does)
            _write(b"\x04")
            sys.print_exception(e, sys.stdout)
        _write(b"\x04>")


def _friendly(g):
    """Friendly REPL: returns "raw" on Ctrl-A, "soft" on Ctrl-D."""
    _write(">>> ")
    line = bytearray()
    while True:
        c = _getc()
        if c == 1:
            _write("\r\n")
            return "raw"
        if c == 4 and not line:
            return "soft"
        if c == 3:
            line = bytearray()
            _write("\r\nKeyboardInterrupt\r\n>>> ")
            continue
        if c in (13, 10):
            _write("\r\n")
            if line:
                src = bytes(line).decode()
                line = bytearray()
                try:
                    try:
                        r = eval(src, g)
                        if r is not None:
                            print(repr(r))
                    except SyntaxError:
                        exec(src, g)
                except HardReset:
                    raise
                except BaseException as e:  # noqa: BLE001
                    sys.print_exception(e, sys.stdout)
            _write(">>> ")
            continue
        if c in (8, 127):
            if line:
                line = line[:-1]
                _write("\b \b")
            continue
        line.append(c)
        _write(bytes([c]))


def main():
    for name in sys.modules:
        _base_modules.add(name)
    reason = _Machine.PWRON_RESET
    mode = "boot"
    while True:
        try:
            _forget_modules()
            g = _new_globals()
            if mode == "boot":
                _run_main(reason)
                mode = "friendly"
                _write(_BANNER)
            elif mode == "soft_raw":
                _write("MPY: soft reboot\r\n")
                mode = "raw"
            elif mode == "soft_friendly":
                _write("MPY: soft reboot\r\n")
                _run_main(_Machine.SOFT_RESET)
                mode = "friendly"
                _write(_BANNER)
            while True:
                if mode == "raw":
                    r = _raw_repl(g)
                    if r == "soft":
                        mode = "soft_raw"
                        break
                    mode = "friendly"
                    _write(_BANNER)
                else:
                    r = _friendly(g)
                    if r == "soft":
                        mode = "soft_friendly"
                        break
                    mode = "raw"
        except HardReset:
            reason = _Machine.HARD_RESET
            mode = "boot"
