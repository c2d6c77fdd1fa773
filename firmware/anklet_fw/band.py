# The band's sampling loop: IMU FIFO -> detector -> flash queue -> radio.
#
#   band = Band(imu, flash, clock)   # hardware injected: see hw_esp32.py and hw_unix.py
#   band.step()                      # one wake-up: drain the FIFO, detect, queue, report
#   await band.run()                 # forever, waking about once a second
#
# The watchdog is fed only after a wake-up that pushed samples through the
# detector, so a stuck bus or a dead IMU resets the band, and the next BOOT
# event says the watchdog did it. Every event goes to flash before the radio
# sees it (eventq.py); the radio reads the queue and acknowledges through it.
from array import array

from . import VERSION_PACKED
from . import events as ev
from .detector import Detector
from .eventq import EventQueue
from .flashdev import SubFlash, geometry
from .imu import ImuError
from .settings import BootLog, Settings
from .status import (
    FLAG_BATTERY_LOW,
    FLAG_DROPPED,
    FLAG_FLASH_ERROR,
    FLAG_IMU_ERROR,
    FLAG_NO_BATTERY,
    FLAG_RAW,
    FLAG_SETTINGS,
    LOW_PCT,
    Battery,
    Wear,
    battery_pct,
)

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# BOOT event reasons
REASON_UNKNOWN = const(0)
REASON_POWER_ON = const(1)
REASON_HARD = const(2)
REASON_WATCHDOG = const(3)
REASON_SOFT = const(4)
REASON_DEEPSLEEP = const(5)
REASON_BROWNOUT = const(6)

MAX_BATCH = const(128)  # samples per FIFO read (over a second at 104 Hz)
_MAX_READS = const(8)  # FIFO reads per wake-up
SETTINGS_BLOCKS = const(2)
BOOT_BLOCKS = const(2)
FW_VERSION = VERSION_PACKED


def split_flash(dev):
    """Carve one flash device into (settings, boot log, event queue) devices."""
    n, _ = geometry(dev)
    q = SETTINGS_BLOCKS + BOOT_BLOCKS
    return SubFlash(dev, 0, SETTINGS_BLOCKS), SubFlash(dev, SETTINGS_BLOCKS, BOOT_BLOCKS), SubFlash(dev, q, n - q)


class Band:
    def __init__(self, imu, flash, clock, adc=None, bat_div=(2, 1), wdt=None, radio=None, raw_sink=None,
                 reset_reason=REASON_UNKNOWN):
        self.imu = imu
        self.clock = clock  # object with ticks_ms() and ticks_diff(a, b)
        self.wdt = wdt
        self.radio = radio  # optional radio.Radio: kick() when events are queued; raw_on(), raw_push()
        self.raw_sink = raw_sink  # optional raw_sink(samples, n), called while the "raw" setting is on
        s_dev, b_dev, q_dev = split_flash(flash)
        rates = imu.RATES
        self.settings = Settings(s_dev, rates=rates, defaults={"fs": rates[len(rates) // 2]})
        self.boots = BootLog(b_dev)
        self.boot_count = self.boots.record(reset_reason)
        self.boot_id = self.boots.boot_id  # never the ids of the band's flash before a wipe
        self.reset_reason = reset_reason
        self.queue = EventQueue(q_dev, self.boot_id)
        self.battery = Battery(adc, bat_div[0], bat_div[1])
        self.has_battery = adc is not None
        self.rec = array("i", [0] * ev.REC_LEN)
        self.samples = array("h", bytes(6 * MAX_BATCH))
        self.t0 = clock.ticks_ms()
        self.imu_errors = 0  # FIFO reads that failed after retries
        self.imu_ok = True
        self.last_error = ""
        self.flash_errors = 0
        self.overrun = 0  # detector events overwritten before they reached flash
        self.wakeups = 0
        self.fed = 0  # watchdog feeds
        self.samples_in = 0
        self._held = False  # rec holds an event whose flash write failed; retried first
        self._configure()
        self._emit(ev.BOOT, 0, reset_reason, self.boot_count, FW_VERSION)
        self._next_status = self.settings["status_s"]

    def _configure(self):
        s = self.settings
        self.imu.configure(s["fs"], s["range_g"])
        self.det = Detector(s["fs"], s["range_g"], params=s.detector_params())
        self.wear = Wear(60 * s["off_min"])

    def apply_settings(self, changes):
        """Validate and store setting changes (ValueError says why not); reconfigure if needed."""
        self.settings.update(changes)
        self.wear.off_s = 60 * self.settings["off_min"]
        for name in changes:
            if name not in ("raw", "status_s", "off_min"):
                # A new rate, range or threshold restarts the detector (and its sample clock carries on).
                hops = self.det.hops
                self._configure()
                self.det.hops = hops
                break

    def on_setting(self, key, value):
        """The radio's SETTING(key, value): key indexes settings.NAMES. ValueError if the value is refused."""
        from .settings import NAMES

        if not 0 <= key < len(NAMES):
            return 7  # packet.ERR_UNSUPPORTED
        self.apply_settings({NAMES[key]: value})
        if self.radio is not None:
            self.radio.fs = self.settings["fs"]
            self.radio.range_g = self.settings["range_g"]
        return 0

    def radio_status(self):
        """(battery_mv, battery_pct, worn, fifo_overflows, uptime_s, fw_version) for the radio's status."""
        mv, pct, worn, ovf, _, up, _ = self.status()
        return mv, pct, worn, ovf, up, FW_VERSION

    def uptime_s(self):
        return self.clock.ticks_diff(self.clock.ticks_ms(), self.t0) // 1000

    def t_ms(self):
        return self.det.t_ms()

    # -- one wake-up ------------------------------------------------------------

    def step(self):
        """Drain the FIFO through the detector into the queue; feed the watchdog if samples flowed."""
        self.wakeups += 1
        got = 0
        buf = self.samples
        det = self.det
        wear = self.wear
        raw = self.settings["raw"] and self.raw_sink is not None
        radio = self.radio
        stream = radio is not None and radio.raw_on()
        try:
            for _ in range(_MAX_READS):
                n = self.imu.read(buf)
                if not n:
                    break
                got += n
                if raw:
                    self.raw_sink(buf, n)
                if stream:
                    for i in range(0, 3 * n, 3):
                        radio.raw_push(buf[i], buf[i + 1], buf[i + 2])
                fe = det.fe
                for i in range(0, 3 * n, 3):
                    h = det.hops
                    det.push(buf[i], buf[i + 1], buf[i + 2])
                    if det.hops != h:
                        wear.hop(fe)
                        self._drain()
            self.imu_ok = True
        except ImuError as exc:
            self.imu_errors += 1
            self.imu_ok = False
            self.last_error = str(exc)
        self.samples_in += got
        self._drain()
        if det.t_ms() >= 1000 * self._next_status:
            self._next_status += self.settings["status_s"]
            self.emit_status()
        if got and self.wdt is not None:
            self.wdt.feed()
            self.fed += 1
        return got

    def _drain(self):
        det = self.det
        rec = self.rec
        while True:
            if not self._held:
                if not det.pop_into(rec):
                    if not self.queue.drop_report(rec, det.t_ms()):
                        break
                self._held = True
            try:
                self.queue.append(rec)
            except OSError as exc:
                self.flash_errors += 1
                self.last_error = f"flash write failed: {exc}"
                return
            self._held = False
            if self.radio is not None:
                self.radio.kick()
        self.overrun = det.overrun

    def _emit(self, kind, t_ms, f0=0, f1=0, f2=0, f3=0, f4=0, f5=0, f6=0):
        if self._held:
            self._drain()
        if self._held:
            return False
        rec = self.rec
        rec[0] = kind
        rec[1] = t_ms
        rec[2] = f0
        rec[3] = f1
        rec[4] = f2
        rec[5] = f3
        rec[6] = f4
        rec[7] = f5
        rec[8] = f6
        self._held = True
        self._drain()
        return True

    # -- status -----------------------------------------------------------------

    def flags(self, pct=None):
        f = 0
        if not self.has_battery:
            f |= FLAG_NO_BATTERY
        elif pct is not None and pct < LOW_PCT:
            f |= FLAG_BATTERY_LOW
        if self.settings["raw"]:
            f |= FLAG_RAW
        if not self.imu_ok:
            f |= FLAG_IMU_ERROR
        if self.settings.problems:
            f |= FLAG_SETTINGS
        if self.queue.dropped:
            f |= FLAG_DROPPED
        if self.flash_errors:
            f |= FLAG_FLASH_ERROR
        return f

    def status(self):
        """(battery_mv, battery_pct, worn, fifo_overflows, queue_depth, uptime_s, flags): STATUS's fields."""
        mv = self.battery.read_mv() if self.has_battery else 0
        pct = battery_pct(mv) if self.has_battery else -1
        return (mv, pct, 1 if self.wear.worn else 0, self.imu.overflows, self.queue.depth(), self.uptime_s(),
                self.flags(pct))

    def emit_status(self):
        # Field by field rather than through status()'s tuple: nothing allocated.
        mv = self.battery.read_mv() if self.has_battery else 0
        pct = battery_pct(mv) if self.has_battery else -1
        return self._emit(ev.STATUS, self.det.t_ms(), mv, pct, 1 if self.wear.worn else 0, self.imu.overflows,
                          self.queue.depth(), self.uptime_s(), self.flags(pct))

    # -- forever ------------------------------------------------------------------

    async def run(self, period_ms=1000, flag=None, stop=None):
        """Wake on the IMU's FIFO-threshold interrupt (`flag`, a ThreadSafeFlag) or every period_ms."""
        import asyncio

        # MicroPython's millisecond variants take ints; CPython (tests) has only the float ones.
        sleep_ms = getattr(asyncio, "sleep_ms", None)
        wait_for_ms = getattr(asyncio, "wait_for_ms", None)
        while stop is None or not stop():
            if flag is not None:
                try:
                    if wait_for_ms is not None:
                        await wait_for_ms(flag.wait(), period_ms + 200)
                    else:
                        await asyncio.wait_for(flag.wait(), (period_ms + 200) / 1000)
                except asyncio.TimeoutError:
                    pass
            elif sleep_ms is not None:
                await sleep_ms(period_ms)
            else:
                await asyncio.sleep(period_ms / 1000)
            self.step()
