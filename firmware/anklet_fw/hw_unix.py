# The virtual band's hardware on MicroPython's unix port: a fake IMU chip fed
# from a trace file, flash kept in a file, a watchdog that only counts. The
# current folder is the band's filesystem; vband.json there says what to build:
#   {"imu": "lsm6ds3trc" | "lsm6dso" | "mpu6886", "trace": "trace.bin", "speed": 1, "flash_blocks": 40}
# "speed" runs the sample clock that many times faster than the wall clock.
import json
import sys
import time

from .band import REASON_HARD, REASON_POWER_ON, REASON_SOFT, Band
from .flashdev import FileFlash
from .imu import probe
from .sim import FakeI2C, FileSource, make_imu

CONFIG = "vband.json"
_cfg = {}
_state = {}


class Watchdog:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class Clock:
    def __init__(self, speed):
        self.speed = speed
        self.t0 = time.ticks_ms()

    def ticks_ms(self):
        return time.ticks_diff(time.ticks_ms(), self.t0) * self.speed

    def ticks_diff(self, a, b):
        return a - b


def config():
    try:
        with open(CONFIG) as f:
            return json.load(f)
    except OSError:
        return {}


def build(board=None):
    cfg = config()
    _cfg.clear()
    _cfg.update(cfg)
    speed = cfg.get("speed", 1)
    clock = Clock(speed)
    part = cfg.get("imu", "lsm6ds3trc")
    source = FileSource(cfg.get("trace", "trace.bin")) if cfg.get("trace") else None
    if source is None:
        from array import array

        from .sim import ArraySource

        source = ArraySource(array("h"))
    chip = make_imu(part, source, clock.ticks_ms)
    imu = probe(FakeI2C(chip), chip.addr, part)
    flash = FileFlash("flash.bin", cfg.get("flash_blocks", 40))
    band = Band(imu, flash, clock, wdt=Watchdog(), reset_reason=reset_reason())
    wanted = {}
    for name, value in cfg.get("settings", {}).items():
        if band.settings[name] != value:
            wanted[name] = value
    if wanted:
        band.apply_settings(wanted)
    _state["source"] = source
    return band, None, max(20, 1000 // speed), None


def reset_reason():
    # The virtual band's console stands in a `machine` module whose reset_cause() says how it (re)started.
    m = sys.modules.get("machine")
    cause = m.reset_cause() if m is not None and hasattr(m, "reset_cause") else 1
    return {1: REASON_POWER_ON, 2: REASON_HARD, 5: REASON_SOFT}.get(cause, REASON_POWER_ON)


def stop():
    """Between wake-ups: let the console see Ctrl-C; with "stop_at_end", stop once the trace is used up."""
    console = sys.modules.get("anklet_vband")
    if console is not None:
        console.interrupt()
    src = _state.get("source")
    return bool(_cfg.get("stop_at_end")) and src is not None and src.done()
