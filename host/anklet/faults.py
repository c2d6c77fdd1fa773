"""FAULT conditions: the ways the monitor can stop watching, each turned into an alarm.

The tracker is pure logic with the time passed in, so tests drive it with a fake clock.
It is fed what the monitor observes (data arriving, band status, band events, log
writes, sound failures) and `check(now)` returns the changes since the last call:
a fault raised, or one that went away. Lasting faults (no data, not worn, battery,
log not writable) end when their condition clears; one-shot faults (a band reset,
dropped events, the alarm could not be sounded, the monitor itself crashed) are
reported once and end when acknowledged.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from anklet_fw import band as fwband
from anklet_fw import status as fwstatus

from .link import Gap
from .records import DeviceEvent
from .statusview import duration_text

NO_DATA_S = 30.0  # host clock, a setting
BATTERY_LOW_PCT = 20
BATTERY_CRITICAL_PCT = 5
BATTERY_HYSTERESIS_PCT = 3  # a low battery fault ends when the charge is this far above the threshold

# BOOT event reasons, as the firmware reports them (anklet_fw/band.py).
RESET_NAMES = {
    fwband.REASON_UNKNOWN: "unknown cause",
    fwband.REASON_POWER_ON: "power on",
    fwband.REASON_HARD: "hard reset",
    fwband.REASON_WATCHDOG: "watchdog",
    fwband.REASON_SOFT: "soft reset",
    fwband.REASON_DEEPSLEEP: "wake from deep sleep",
    fwband.REASON_BROWNOUT: "brownout: battery too weak",
}
_EXPECTED_RESETS = (fwband.REASON_POWER_ON,)  # switching the band on at bedtime is not a fault

# code -> one-line meaning (what the parent reads in the log and `anklet log`).
CODES = {
    "no_data": "no data from the band: it is not being watched",
    "not_worn": "the band is not worn",
    "battery_low": "band battery low",
    "battery_critical": "band battery critically low",
    "log_write": "the log cannot be written",
    "log_deleted": "the log file was deleted or replaced while the monitor wrote to it",
    "band_reset": "the band restarted",
    "dropped": "events were lost on the band (a gap in its sequence)",
    "sound": "the alarm could not be sounded",
    "host_crash": "the monitor stopped unexpectedly",
    "notify": "desktop notifications are not available",
    "band_sensor": "the band cannot read its motion sensor",
    "band_flash": "the band cannot store events",
    "band_settings": "the band's stored settings are damaged or could not all be loaded",
    "host_audio": "the computer's sound is muted or at zero volume",
    "host_power": "the computer runs on its battery",
    "host_disk": "the disk under the log is nearly full",
    "host_slept": "the computer was asleep: nothing was watched meanwhile",
    "host_sleeping": "the computer is going to sleep: the band will not be watched",
}
# DROPPED causes (anklet_fw.eventq.LOST_*), in words.
LOST_CAUSES = {
    1: "its queue was full while the monitor was away",
    2: "they were damaged in its flash memory (a flipped bit, or a write cut by a power loss)",
}
ONE_SHOT = frozenset({"band_reset", "dropped", "sound", "host_crash", "notify", "log_deleted", "host_slept",
                      "host_sleeping"})
# Reported but not sounded: everything else is a FAULT alarm that sounds.
WARNINGS = frozenset({"notify"})


@dataclass(frozen=True)
class FaultChange:
    code: str
    raised: bool  # True: raised; False: the condition went away
    message: str

    @property
    def level(self) -> str:
        return "warning" if self.code in WARNINGS else "fault"


class FaultTracker:
    def __init__(self, no_data_s: float = NO_DATA_S, battery_low_pct: int = BATTERY_LOW_PCT,
                 battery_critical_pct: int = BATTERY_CRITICAL_PCT, start: float = 0.0) -> None:
        self.no_data_s = no_data_s
        self.low = battery_low_pct
        self.critical = battery_critical_pct
        self.last_data = start  # monitoring starts "fresh": 30 s to hear from the band
        self.active: dict[str, str] = {}  # lasting faults now present: code -> message
        self._changes: list[FaultChange] = []
        self._boots_seen: set[int] = set()
        self._current_boot: int | None = None
        self._lost_ranges: list[tuple[int, int]] = []

    # -- observations -------------------------------------------------------------------

    def data(self, now: float) -> None:
        """Something arrived from the band (an event or a status read): it is alive."""
        self.last_data = max(self.last_data, now)

    def status(self, battery_pct: int, worn: bool, battery_mv: int | None = None) -> None:
        self._set("not_worn", not worn, "the band is not worn (off the ankle, or lying still in an impossible position)")
        if battery_pct < 0:  # the band has no battery gauge (bench boards)
            return
        mv = f", {battery_mv} mV" if battery_mv else ""
        for code, threshold in (("battery_critical", self.critical), ("battery_low", self.low)):
            if code in self.active:
                on = battery_pct < threshold + BATTERY_HYSTERESIS_PCT
            else:
                on = battery_pct <= threshold
            what = "critically low: charge it now" if code == "battery_critical" else "low: charge it before the night"
            self._set(code, on, f"band battery {battery_pct} %{mv}, {what}")

    def event(self, e: DeviceEvent) -> None:
        """Band events that say something is wrong: STATUS, BOOT, DROPPED, or a boot id that changed."""
        if e.kind == "status":
            f = e.fields
            if f.get("flags", 0) & fwstatus.FLAG_NO_BATTERY:
                pct = -1
            else:
                pct = f.get("battery_pct", 100)
            self.status(pct, bool(f.get("worn", 1)), f.get("battery_mv"))
            flags = f.get("flags", 0)
            self._set("band_sensor", bool(flags & fwstatus.FLAG_IMU_ERROR),
                      "the band's last reads of its motion sensor failed: it may not be detecting anything")
            self._set("band_flash", bool(flags & fwstatus.FLAG_FLASH_ERROR),
                      "the band could not write events to its flash: events may be lost")
            self._set("band_settings", bool(flags & fwstatus.FLAG_SETTINGS),
                      "the band's stored settings are damaged or could not all be loaded: it runs on older "
                      "settings or defaults; set them again")
        elif e.kind == "dropped":
            f = e.fields
            n, first, last = f.get("count", 0), f.get("first_seq", 0), f.get("last_seq", 0)
            cause = LOST_CAUSES.get(f.get("cause", 0), "the band does not say why (older firmware)")
            total = f.get("total", 0)
            running = f"; {total} lost on this band in all" if total else ""
            self._lost(first, last, f"the band lost {n} events (numbers {first}-{last}): {cause}{running}. "
                                    "That part of the night is missing from the log.")
        elif e.kind == "boot":
            reason = e.fields.get("reason", 0)
            restarted = self._current_boot is not None and e.boot != self._current_boot
            if restarted or reason not in _EXPECTED_RESETS:
                name = RESET_NAMES.get(reason, f"reason {reason}")
                self._once("band_reset", f"the band restarted ({name}, start {e.fields.get('boot_count', e.boot)}): "
                                         "an episode in progress may have been cut short; check on the baby and the band")
        if e.boot is not None:
            if self._current_boot is not None and e.boot != self._current_boot and e.kind != "boot" \
                    and e.boot not in self._boots_seen:
                self._once("band_reset", f"the band restarted: its events now come from start {e.boot} "
                                         f"(was {self._current_boot})")
            self._boots_seen.add(e.boot)
            self._current_boot = e.boot

    def gap(self, g: Gap) -> None:
        """A gap in the band's sequence found by the link: events that will never reach the log."""
        if g.first is None or g.last is None:
            self._once("dropped", g.message)
        else:
            self._lost(g.first, g.last, g.message)

    def _lost(self, first: int, last: int, message: str) -> None:
        # One FAULT per lost range: the link's gap and the band's DROPPED report of the same events are one.
        for a, b in self._lost_ranges:
            if a <= first and last <= b:
                return
        self._lost_ranges.append((first, last))
        del self._lost_ranges[:-50]
        self._once("dropped", message)

    def log_write(self, error: str | None) -> None:
        """The result of writing to the log: None when it worked."""
        self._set("log_write", error is not None, f"the log cannot be written ({error}); events stay on the band "
                                                  "until it can, alarms still work")

    def log_deleted(self, message: str) -> None:
        self._once("log_deleted", message)

    def sound_failed(self, reason: str) -> None:
        self._once("sound", f"the alarm could not be sounded: {reason}")

    def notify_failed(self, reason: str) -> None:
        self._once("notify", f"desktop notifications are not available: {reason}")

    def output(self, name: str, error: str | None) -> None:
        """The result of delivering to an alarm output (web page, MQTT, push): None when it worked."""
        self._set(f"output_{name}", error is not None,
                  f"the {name} alarm output is not working ({error}); alarms still sound here")

    def host(self, code: str, problem: str | None, once: bool = False) -> None:
        """A probe of the computer itself (anklet.hostcheck): its problem, or None when fine or unknown."""
        if once:
            if problem:
                self._once(code, problem)
        else:
            self._set(code, problem is not None, problem or CODES.get(code, code))

    def host_crashed(self, message: str) -> None:
        self._once("host_crash", message)

    # -- decisions ------------------------------------------------------------------------

    def check(self, now: float) -> list[FaultChange]:
        silent = now - self.last_data
        self._set("no_data", silent > self.no_data_s,
                  f"no data from the band for {duration_text(silent)} (band out of reach, switched off or its battery "
                  "flat): it is not being watched")
        out, self._changes = self._changes, []
        return out

    def silent_for(self, now: float) -> float:
        return now - self.last_data

    def _set(self, code: str, on: bool, message: str) -> None:
        if on and code not in self.active:
            self.active[code] = message
            self._changes.append(FaultChange(code, True, message))
        elif not on and code in self.active:
            del self.active[code]
            self._changes.append(FaultChange(code, False, message))

    def _once(self, code: str, message: str) -> None:
        self._changes.append(FaultChange(code, True, message))


# -- the sentinel: a FAULT alarm when the monitor itself dies or hangs -------------------------------------


def sentinel(db_path: str, session_id: int, *, stale_s: float = 20.0, check_s: float = 2.0, repeat_s: float = 10.0,
             sound_mode: str = "auto", out: Any = None, clock: Callable[[], float] = time.time,
             sleep: Callable[[float], None] = time.sleep, max_checks: int | None = None) -> int:
    """Watch a monitor session's heartbeat from another process; sound a FAULT alarm if it stops.

    `anklet monitor` starts this in a process of its own session, so killing or hanging the monitor (a crash, an
    out-of-memory kill, a stuck event loop) does not silence the night: the sentinel sees the heartbeat go stale
    and alarms with sound, notification and terminal until the monitor beats again, a new monitor starts, or the
    alarm is acknowledged (`anklet ack`). It exits quietly when the session ends cleanly.
    Returns 0 when it ended quietly, 1 after it had to alarm.
    """
    import asyncio
    import shlex
    from pathlib import Path

    from .alerts import Notifier, Sound
    from .store import Store, default_db_path

    out = out if out is not None else sys.stdout
    default = Path(db_path).resolve() == Path(default_db_path()).resolve()
    restart = "anklet monitor" + ("" if default else f" --db {shlex.quote(str(db_path))}")  # works as written
    sound = Sound(sound_mode, out=out)
    notifier = Notifier()
    alarm_id: int | None = None
    alarmed = False
    last_sound = -1e18
    checks = 0
    store = Store(db_path)
    try:
        while max_checks is None or checks < max_checks:
            checks += 1
            now = clock()
            rows = store.db.execute("SELECT id, alive_at, ended_at FROM sessions WHERE id >= ? ORDER BY id",
                                    (session_id,)).fetchall()
            mine = next((r for r in rows if r["id"] == session_id), None)
            if mine is None or mine["ended_at"] is not None or len(rows) > 1:
                return 1 if alarmed else 0  # stopped cleanly, or a new monitor took over (it reports the crash)
            silent = now - mine["alive_at"]
            if silent > stale_s:
                if alarm_id is None and not alarmed:
                    msg = (f"the monitor has stopped (no sign of life for {duration_text(silent)}): the band is NOT "
                           f"being watched. Restart `{restart}` and check on the baby.")
                    alarm_id = store.add_alarm("fault", now, code="host_crash", message=msg)
                    alarmed = True
                    out.write(f"\n\a*** FAULT: {msg}\n")
                    out.flush()
                    asyncio.run(notifier.send("anklet FAULT", msg))
                acked = alarm_id is not None and store.db.execute(
                    "SELECT acked_at FROM alarms WHERE id = ?", (alarm_id,)).fetchone()[0] is not None
                if acked:
                    return 1
                if now - last_sound >= repeat_s:
                    last_sound = now
                    result = asyncio.run(sound.play())
                    if result.error:
                        out.write(f"(the alarm sound could not be played: {result.error})\n")
            elif alarm_id is not None:
                store.end_alarm(alarm_id, now)  # it came back
                out.write("the monitor is responding again\n")
                out.flush()
                alarm_id = None
            sleep(check_s)
        return 1 if alarmed else 0
    finally:
        store.close()


def _sentinel_main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m anklet.faults", description="the monitor's sentinel (started by it)")
    p.add_argument("--db", required=True)
    p.add_argument("--session", type=int, required=True)
    p.add_argument("--stale-s", type=float, default=20.0)
    p.add_argument("--check-s", type=float, default=2.0)
    p.add_argument("--sound", choices=("auto", "bell", "report"), default="auto")
    args = p.parse_args(argv)
    try:
        return sentinel(args.db, args.session, stale_s=args.stale_s, check_s=args.check_s, sound_mode=args.sound)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(_sentinel_main())
