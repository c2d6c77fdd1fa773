"""FAULT alarms: link silent, band not worn, battery, the log not writable, resets and drops, no sound."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from test_monitor_helpers import START, Rig, activity_script, episode_script

from anklet.faults import FaultTracker
from anklet.monitor import Settings
from anklet.records import DeviceEvent
from anklet_fw import events as fw


def run(coro):
    return asyncio.run(coro)


def test_link_silent_raises_fault_within_30_s_and_clears_on_return(tmp_path):
    actions = [(100, lambda b: b.set_radio(False)), (200, lambda b: b.set_radio(True))]
    rig = run(Rig(tmp_path, script=activity_script(300), duration_s=300, actions=actions).run())
    [fault] = rig.raised(code="no_data")
    # Status is read every 10 s, so the last data came at most 10 s before the link went.
    assert 120 <= rig.t(fault.at) <= 131
    assert fault.level == "fault" and fault.sounded  # a FAULT sounds
    [logged] = rig.store.alarms(faults=True)
    assert logged.code == "no_data" and logged.ended_at is not None
    assert 200 <= logged.ended_at.timestamp() - START <= 209  # reconnected with backoff (5 s at most, jittered)
    assert rig.store.count_events() == rig.band.sent  # what the band kept meanwhile arrived, once


@pytest.mark.parametrize("no_data_s", [15, 60])
def test_no_data_limit_is_a_setting(tmp_path, no_data_s):
    actions = [(50, lambda b: b.set_radio(False))]
    rig = run(Rig(tmp_path, duration_s=200, actions=actions,
                  settings=Settings(poll_s=0.01, no_data_s=no_data_s)).run(settle_s=0))
    [fault] = rig.raised(code="no_data")
    assert 50 - 10 + no_data_s <= rig.t(fault.at) <= 50 + no_data_s + 1.5


def test_band_not_worn(tmp_path):
    def off(b):
        b.worn = False

    def on(b):
        b.worn = True

    rig = run(Rig(tmp_path, duration_s=200, actions=[(60, off), (120, on)]).run())
    [fault] = rig.raised(code="not_worn")
    assert 60 <= rig.t(fault.at) <= 71  # the next status read
    [logged] = rig.store.faults()
    assert logged.kind == "not_worn" and 120 <= logged.end.timestamp() - START <= 131


def test_battery_low_then_critical(tmp_path):
    # 24 % draining 36 %/h (1 % per 100 s); the band reports whole percent, rounded down: 20 % from 300 s on, 5 % from 1800 s.
    rig = run(Rig(tmp_path, duration_s=2000, battery_pct=24.0, drain_pct_per_h=36.0).run())
    low = rig.raised(code="battery_low")
    crit = rig.raised(code="battery_critical")
    assert len(low) == 1 and len(crit) == 1
    assert 300 <= rig.t(low[0].at) <= 311
    assert 1800 <= rig.t(crit[0].at) <= 1811
    assert "20 %" in low[0].message or "19 %" in low[0].message


def test_read_only_log_raises_fault_alarms_still_work_nothing_lost(tmp_path):
    path = tmp_path / "night.db"
    saved = {}

    def break_log(b):
        saved["db"] = rig.store.db
        ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        ro.row_factory = sqlite3.Row
        rig.store.db = ro

    def mend_log(b):
        rig.store.db.close()
        rig.store.db = saved["db"]

    script = episode_script(60, 40) + activity_script(200)
    rig = Rig(tmp_path, script=script, duration_s=200, actions=[(50, break_log), (130, mend_log)])
    rig.band.pace_max_s = 0.005  # the band is not acknowledged meanwhile; do not wait for it
    run(rig.run())
    [fault] = rig.raised(code="log_write")
    assert 50 <= rig.t(fault.at) <= 62 and "readonly" in fault.message
    # The episode during the failure still alarmed, on time.
    [alarm] = rig.raised("alarm")
    assert rig.t(alarm.at) == pytest.approx(80, abs=1.5)
    # Once the log could be written again everything reached it, exactly once; the band was acknowledged.
    assert rig.store.count_events() == rig.band.sent
    seqs = [e.event.seq for e in rig.store.events()]
    assert seqs == sorted(set(seqs))
    assert rig.band.queue.depth() == 0
    assert "log_write" not in rig.monitor.faults.active
    # The alarm raised while the log was read-only could not be logged; the fault says so, later ones are.
    assert [e.duration_s for e in rig.store.episodes()] == [40.0]


def test_band_reset_and_dropped_events_are_faults():
    ft = FaultTracker(start=0)
    ft.event(DeviceEvent("boot", 0, {"reason": 1, "boot_count": 7, "fw_version": 1}, 1, 7))
    ft.event(DeviceEvent("activity", 60_000, {}, 2, 7))
    assert ft.check(1) == []  # switched on at bedtime: fine
    ft.event(DeviceEvent("boot", 0, {"reason": 3, "boot_count": 8, "fw_version": 1}, 3, 8))
    [reset] = ft.check(2)
    assert reset.code == "band_reset" and "watchdog" in reset.message
    ft.event(DeviceEvent("dropped", 10_000, {"count": 40, "first_seq": 4, "last_seq": 43}, 44, 8))
    [drop] = ft.check(3)
    assert drop.code == "dropped" and "40 events" in drop.message
    # Events from a new boot without its BOOT event (lost) still reveal the reset.
    ft.event(DeviceEvent("activity", 60_000, {}, 50, 9))
    [again] = ft.check(4)
    assert again.code == "band_reset" and "start 9" in again.message
    # A watchdog reset is a fault even as the first thing heard.
    ft2 = FaultTracker(start=0)
    ft2.event(DeviceEvent("boot", 0, {"reason": 3, "boot_count": 2, "fw_version": 1}, 1, 2))
    assert [c.code for c in ft2.check(1)] == ["band_reset"]


def test_band_reset_during_the_night_reaches_the_log(tmp_path):
    reset = [(100_000, (fw.BOOT, 100_000, 3, 2, 1, 0, 0, 0, 0))]  # recorded as if the band came back from a watchdog
    rig = run(Rig(tmp_path, script=reset, duration_s=150).run())
    [fault] = rig.raised(code="band_reset")
    assert rig.t(fault.at) == pytest.approx(100, abs=1.5)
    assert [a.code for a in rig.store.alarms(faults=True)] == ["band_reset"]


def test_alarm_that_cannot_be_sounded_is_reported(tmp_path):
    rig = Rig(tmp_path, script=episode_script(10, 30), duration_s=120, sound_player=["false"])
    run(rig.run())
    [alarm] = rig.raised("alarm")
    assert alarm.sounded.startswith("terminal bell")  # the last resort
    [fault] = rig.raised(code="sound")
    assert "could not be sounded" in fault.message and "false failed" in fault.message
    assert any(a.code == "sound" for a in rig.store.alarms(faults=True))
    # Reported once, not on every repeat.
    assert len(rig.raised(code="sound")) == 1


def test_crashed_monitor_is_reported_at_the_next_start(tmp_path):
    from anklet.store import Store

    s = Store(tmp_path / "night.db")
    s.start_session(START - 3600)  # a monitor that never ended its session: killed, or the machine died
    s.close()
    rig = run(Rig(tmp_path, duration_s=20).run())
    [fault] = rig.raised(code="host_crash")
    assert "stopped unexpectedly" in fault.message


def test_a_hanging_link_still_ends_in_a_fault(tmp_path):
    """A transport that stops answering (ignores its timeouts) must not stall the watch."""
    rig = Rig(tmp_path, script=activity_script(300), duration_s=300,
              settings=Settings(poll_s=0.01, guard_s=0.02, link_call_s=0.05))
    rig.band.pace_max_s = 0.002
    inner = rig.link
    hang = asyncio.Event()

    class HangingLink(type(inner)):
        def __init__(self):  # share the in-process link's state
            self.__dict__ = inner.__dict__

        async def next_event(self, timeout):
            if hang.is_set():
                await asyncio.Event().wait()  # never returns, whatever the timeout said
            return await inner.next_event(timeout)

        async def status(self):
            if hang.is_set():
                await asyncio.Event().wait()
            return await inner.status()

    rig.monitor.link = HangingLink()
    rig.band.actions = [(100, lambda b: hang.set())]
    run(rig.run(settle_s=0))
    faults = rig.raised(code="no_data")
    assert 120 <= rig.t(faults[0].at) <= 132
    assert "no_data" in rig.monitor.faults.active  # still raised at the end of the night
    assert rig.monitor.overstays > 0


def test_no_audio_is_reported_when_monitoring_starts(tmp_path, monkeypatch):
    from anklet import alerts

    monkeypatch.setattr(alerts.sys, "platform", "linux")
    monkeypatch.setattr(alerts, "_has_audio_device", lambda: (False, "no audio device (test)"))
    rig = Rig(tmp_path, script=episode_script(30, 30), duration_s=100)
    rig.monitor.sound = alerts.Sound("auto", out=rig.out)
    run(rig.run())
    sound_faults = rig.raised(code="sound")
    assert len(sound_faults) == 1 and rig.t(sound_faults[0].at) < 2  # before the night, once
    assert "terminal bell" in sound_faults[0].message
    [alarm] = rig.raised("alarm")
    assert alarm.sounded.startswith("terminal bell")


def test_band_status_flags_sensor_and_flash_errors():
    from anklet_fw import status as fwstatus

    ft = FaultTracker(start=0)

    def status(flags, pct=80):
        return DeviceEvent("status", 0, {"battery_pct": pct, "worn": 1, "flags": flags}, 1, 1)

    ft.event(status(fwstatus.FLAG_IMU_ERROR))
    assert [c.code for c in ft.check(1)] == ["band_sensor"]
    ft.event(status(fwstatus.FLAG_FLASH_ERROR))
    assert sorted((c.code, c.raised) for c in ft.check(2)) == [("band_flash", True), ("band_sensor", False)]
    ft.event(status(fwstatus.FLAG_NO_BATTERY, pct=-1))  # no gauge on this board: no battery fault
    assert [(c.code, c.raised) for c in ft.check(3)] == [("band_flash", False)]


def test_sentinel_alarms_when_the_monitor_stops_beating(tmp_path):
    import io

    from anklet.faults import sentinel
    from anklet.store import Store

    db = tmp_path / "night.db"
    s = Store(db)
    sid, _ = s.start_session(START, pid=1)
    s.close()
    now = [START + 5]
    out = io.StringIO()

    def sleep(dt):
        now[0] += dt

    # Beating: quiet. (alive_at = START; 5 s later is fresh)
    assert sentinel(str(db), sid, clock=lambda: now[0], sleep=sleep, out=out, sound_mode="report", max_checks=3) == 0
    assert out.getvalue() == ""
    # 30 s without a beat: FAULT, logged; then someone acknowledges with `anklet ack`.
    now[0] = START + 30
    assert sentinel(str(db), sid, clock=lambda: now[0], sleep=sleep, out=out, sound_mode="report", max_checks=2) == 1
    assert "FAULT: the monitor has stopped" in out.getvalue()
    s = Store(db)
    [fault] = s.alarms(faults=True)
    assert fault.code == "host_crash"
    s.ack_alarms([fault.id], START + 40, by="cli")
    s.close()
    assert sentinel(str(db), sid, clock=lambda: now[0], sleep=sleep, out=out, sound_mode="report", max_checks=50) == 1
    # A clean stop: the sentinel leaves without a word.
    s = Store(db)
    s.end_session(sid, START + 50)
    s.close()
    out2 = io.StringIO()
    assert sentinel(str(db), sid, clock=lambda: now[0], sleep=sleep, out=out2, sound_mode="report") == 0
    assert out2.getvalue() == ""


def test_sentinel_process_outlives_a_killed_monitor(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    from anklet.store import Store

    db = tmp_path / "night.db"
    # A stand-in monitor: opens a session, starts its sentinel as `anklet monitor` does, beats, then is killed.
    code = textwrap.dedent(f"""
        import subprocess, sys, time
        from anklet.store import Store
        s = Store({str(db)!r})
        sid, _ = s.start_session(time.time(), pid=0)
        subprocess.Popen([sys.executable, "-m", "anklet.faults", "--db", {str(db)!r}, "--session", str(sid),
                          "--stale-s", "1", "--check-s", "0.1", "--sound", "report"], start_new_session=True)
        while True:
            s.session_alive(sid, time.time())
            time.sleep(0.2)
    """)
    mon = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.5)
        os.kill(mon.pid, signal.SIGKILL)
        mon.wait()
        deadline = time.monotonic() + 15
        faults = []
        while not faults and time.monotonic() < deadline:
            time.sleep(0.2)
            s = Store(db)
            faults = s.alarms(faults=True)
            s.close()
        assert [f.code for f in faults] == ["host_crash"]
        s = Store(db)
        s.ack_alarms([faults[0].id], time.time(), by="cli")  # `anklet ack`: the sentinel stops
        s.close()
    finally:
        if mon.poll() is None:
            mon.kill()
            mon.wait()
        s = Store(db)
        s.db.execute("UPDATE sessions SET ended_at = ? WHERE ended_at IS NULL", (time.time(),))  # and it leaves
        s.close()


def test_every_gap_is_one_fault_with_its_count_and_cause():
    from anklet.link import Gap
    from anklet_fw.status import FLAG_SETTINGS

    ft = FaultTracker()
    ft.gap(Gap(5, 9, 5, "band", "the band no longer holds events 5 to 9"))
    ft.event(DeviceEvent("dropped", 0, {"count": 5, "first_seq": 5, "last_seq": 9, "cause": 2, "total": 5}, 12, 1))
    ft.event(DeviceEvent("dropped", 0, {"count": 3, "first_seq": 20, "last_seq": 22, "cause": 1, "total": 8}, 30, 1))
    ft.gap(Gap(None, None, None, "wiped", "the band was wiped"))
    changes = ft.check(0.0)
    lost = [c for c in changes if c.code == "dropped"]
    assert [c.level for c in lost] == ["fault"] * 3  # the gap 5-9 and its DROPPED report are one FAULT
    assert "queue was full" in lost[1].message and "3 events (numbers 20-22)" in lost[1].message
    assert "8 lost on this band in all" in lost[1].message and "wiped" in lost[2].message
    ft.event(DeviceEvent("status", 0, {"battery_pct": 80, "worn": 1, "flags": FLAG_SETTINGS}, 31, 1))
    assert [c.code for c in ft.check(0.0) if c.raised] == ["band_settings"]
