"""Host-side faults of the monitor, on a virtual clock: wall-clock steps, settings out of range, resuming from
what is committed, the log file deleted mid-night."""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3

import pytest
from test_monitor_helpers import START, Rig, activity_script, episode_script

from anklet.cli import main
from anklet.inproc import InprocLink
from anklet.monitor import Monitor, Settings
from anklet.store import Store


def run(coro):
    return asyncio.run(coro)


def mono_of_alarms(rig: Rig) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    rig.monitor.on_alarm = lambda r: out.append((r.code, rig.clock.monotonic() - START))
    return out


def test_backward_wall_step_delays_no_fault(tmp_path):
    """The wall clock steps back 2 minutes, then the band goes silent: the FAULT comes no_data_s later by the
    monotonic clock (not 2 minutes later), and the log keeps wall time."""
    def step_and_vanish(b):
        rig.clock.step_wall(-120)
        b.set_radio(False)

    rig = Rig(tmp_path, duration_s=150, actions=[(50, step_and_vanish)])
    seen = mono_of_alarms(rig)
    run(rig.run(settle_s=0))
    [(_, at)] = [x for x in seen if x[0] == "no_data"]
    assert 50 - 10 + 30 <= at <= 50 + 31.5  # last status read at most 10 s before the band went
    [logged] = [a for a in rig.store.alarms(faults=True) if a.code == "no_data"]
    assert logged.raised_at.timestamp() == pytest.approx(START + at - 120, abs=1)  # wall time, as the log keeps


def test_backward_wall_step_does_not_stop_a_sounding_alarm(tmp_path):
    script = episode_script(10, 40)  # ALARM at 30 s; sounds every 10 s until acknowledged
    rig = Rig(tmp_path, script=script, duration_s=150, actions=[(60, lambda b: rig.clock.step_wall(-80))],
              settings=Settings(poll_s=0.01, repeat_s=10))
    run(rig.run())
    # 30 s to 150 s: the first sound and a repeat every 10 s, the step notwithstanding (was: silent 80 s).
    assert rig.sound.plays >= 11


def test_forward_wall_step_ends_no_mute_early(tmp_path):
    script = episode_script(10, 250)
    rig = Rig(tmp_path, script=script, duration_s=200,
              actions=[(40, lambda b: rig.monitor.acknowledge("test", mute_s=120)),
                       (50, lambda b: rig.clock.step_wall(+3600))])
    run(rig.run())
    over = [r for r in rig.monitor.raised if r.message.startswith("mute over")]
    assert over and rig.clock.monotonic() - START >= 160
    assert all(r.at - 3600 - START == pytest.approx(160, abs=1.5) for r in over)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_settings_that_govern_alarms_refuse_nan_and_inf(bad):
    for name in ("no_data_s", "mute_s", "repeat_s", "alarm_s", "status_s"):
        with pytest.raises(ValueError, match="finite|out of range"):
            Settings(**{name: bad})
    from anklet.monitor import check_mute_s

    with pytest.raises(ValueError, match="out of range"):
        check_mute_s(bad)


def test_setting_ranges_are_finite_and_enforced():
    with pytest.raises(ValueError, match="no-data limit"):
        Settings(no_data_s=100_000)
    with pytest.raises(ValueError, match="mute"):
        Settings(mute_s=86_400)
    Settings(no_data_s=1, mute_s=0, repeat_s=1)  # the ends of the ranges are allowed


@pytest.mark.parametrize("argv, text", [
    (["monitor", "--no-data-s", "nan"], "finite"),
    (["monitor", "--no-data-s", "inf"], "finite"),
    (["monitor", "--mute-min", "inf"], "finite"),
    (["monitor", "--no-data-s", "0"], "out of range"),
    (["ack", "--mute-min", "inf"], "out of range"),
    (["ack", "--mute-min", "nan"], "out of range"),
    (["ack", "--mute-min", "1000"], "out of range"),
])
def test_cli_refuses_alarm_settings_out_of_range(tmp_path, capsys, argv, text):
    db = tmp_path / "night.db"
    Store(db).close()
    assert main([*argv, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert text in err and "Traceback" not in err


def test_infinite_mute_request_does_not_crash_the_tick_loop(tmp_path):
    """An `ack` request with an infinite mute (an older anklet, a hand-made row) mutes for the default and the
    monitor goes on watching: no internal error, and a later episode still alarms."""
    script = episode_script(10, 30) + episode_script(400, 40)

    def ack_forever(b):
        other = Store(tmp_path / "night.db")
        other.request("ack", rig.clock.now(), mute_s=math.inf, source="cli")
        other.close()

    rig = Rig(tmp_path, script=script, duration_s=500, actions=[(45, ack_forever)])
    run(rig.run())
    assert not rig.raised(code="host_crash")
    assert len(rig.raised("alarm")) == 2
    assert "out of range" in rig.out.getvalue()
    assert rig.monitor.muted_until is None or math.isfinite(rig.monitor.muted_until)


def test_resume_after_what_is_committed_not_what_was_fed(tmp_path):
    """White-box: the log is unreadable at reconnect; the monitor asks the band to resume after the last event it
    committed, not after the last it fed to the alarm rule (those would be lost)."""
    class Recorder(InprocLink):
        async def connect(self, resume_after, resume_boot=None):
            asked.append(resume_after)
            mon.stop()
            raise OSError("stop here")

    asked: list[int | None] = []
    store = Store(tmp_path / "night.db")
    rig = Rig(tmp_path)
    link = Recorder(rig.band, "band-test")
    mon = Monitor(link, store, settings=Settings(poll_s=0.01), clock=rig.clock, sound=rig.sound,
                  notifier=rig.monitor.notifier, view=rig.monitor.view)
    mon._fed, mon._committed, mon._last_boot = {1: 50}, {1: 40}, 1

    def unreadable(*a, **k):
        raise sqlite3.OperationalError("disk I/O error")

    store.last_seq = unreadable
    run(asyncio.wait_for(mon._link_loop(), 5))
    assert asked == [40]


def test_deleted_log_is_noticed_written_again_and_kept(tmp_path):
    db = tmp_path / "night.db"

    def delete(b):
        for p in (db, db.with_name("night.db-wal"), db.with_name("night.db-shm")):
            p.unlink(missing_ok=True)

    rig = Rig(tmp_path, script=activity_script(300, every_s=10), duration_s=300, actions=[(150, delete)])
    run(rig.run())
    [fault] = rig.raised(code="log_deleted")
    assert 150 <= rig.t(fault.at) <= 152 and fault.level == "fault"
    assert db.exists() and os.stat(db).st_mode & 0o777 == 0o600
    with Store(db, readonly=True) as again:  # the whole night is on disk: before the deletion and after
        assert again.count_events() == rig.band.sent
        seqs = [e.event.seq for e in again.events()]
        assert seqs == sorted(set(seqs))
        assert [a.code for a in again.alarms(faults=True)] == ["log_deleted"]
