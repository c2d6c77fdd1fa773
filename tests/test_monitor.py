"""The monitor: alarm timing against the rule, exactly-once logging, acknowledge and mute-resume."""

from __future__ import annotations

import asyncio
import io

import pytest
from test_monitor_helpers import START, Rig, activity_script, episode_script

from anklet.alarm import AlarmRule
from anklet.monitor import Settings
from anklet.records import DeviceEvent
from anklet.store import Store


def run(coro):
    return asyncio.run(coro)


def rule_decisions(script, alarm_s=20):
    rule = AlarmRule(alarm_s)
    out = []
    for _, rec in script:
        out += rule.feed(DeviceEvent.from_record(rec))
    return [(d.level, d.t_ms) for d in out if d.level != "clear"]


@pytest.mark.parametrize("alarm_s", [20, 45])
def test_alarm_timing_follows_the_rule(tmp_path, alarm_s):
    script = episode_script(100, 400) + activity_script(700)
    rig = run(Rig(tmp_path, script=script, duration_s=700, settings=Settings(poll_s=0.01, alarm_s=alarm_s)).run())
    got = [(r.level, r.t_ms) for r in rig.raised() if r.t_ms is not None]
    want = rule_decisions(script, alarm_s)
    assert got == want
    assert [lv for lv, _ in want] == ["notice", "alarm", "escalation"]
    # Raised when the band's clock said so: the monitor keeps pace with the band.
    for r in rig.raised():
        if r.t_ms is not None:
            assert rig.t(r.at) == pytest.approx(r.t_ms / 1000, abs=1.0)
    assert [r.level for r in rig.raised() if r.sounded] == ["alarm", "escalation"]  # NOTICE is quiet
    # Logged with the episode.
    [ep] = rig.store.episodes()
    assert ep.max_level == "escalation" and ep.duration_s == 400 and not ep.open
    assert [a.level for a in rig.store.alarms(faults=False)] == ["notice", "alarm", "escalation"]
    assert rig.store.alarms(faults=True) == []


def test_every_event_logged_once_and_acknowledged_after_commit(tmp_path):
    script = episode_script(50, 30) + activity_script(400)
    drops = [(150, lambda b: b.set_radio(False)), (162, lambda b: b.set_radio(True))]  # a 12 s dropout
    rig = run(Rig(tmp_path, script=script, duration_s=400, actions=drops).run())
    assert rig.link.connects >= 2
    assert rig.store.count_events() == rig.band.sent
    seqs = [e.event.seq for e in rig.store.events()]
    assert seqs == sorted(set(seqs))
    assert rig.band.queue.depth() == 0  # the band was told it may forget them all
    assert rig.raised(code="no_data") == []  # 20 s is under the 30 s limit


def test_acknowledge_silences_and_mute_resumes_while_it_goes_on(tmp_path):
    script = episode_script(10, 250)
    acked = {}

    def ack(band):
        acked["n"] = rig.monitor.acknowledge("test", mute_s=60)

    rig = Rig(tmp_path, script=script, duration_s=400, actions=[(40, ack)],
              settings=Settings(poll_s=0.01, repeat_s=5))
    run(rig.run())
    assert acked["n"] == 1
    plays = [rig.t(r.at) for r in rig.monitor.raised if r.sounded]
    # ALARM at 30 s sounds; acknowledged at 40 s; the episode still going when the mute ends at 100 s: sounds again.
    assert plays[0] == pytest.approx(30, abs=1)
    assert any(r.message.startswith("mute over") and rig.t(r.at) == pytest.approx(100, abs=1.5) for r in rig.monitor.raised)
    # The stored alarm carries the acknowledgement.
    [alarm] = [a for a in rig.store.alarms() if a.level == "alarm"]
    assert alarm.acked_by == "test" and alarm.acked_at.timestamp() == pytest.approx(START + 40, abs=1.5)


def test_repeats_until_acknowledged_then_stops(tmp_path):
    script = episode_script(10, 40)  # ends at 50 s; an ended episode's alarm keeps sounding until acknowledged
    rig = Rig(tmp_path, script=script, duration_s=200, actions=[(120, lambda b: rig.monitor.acknowledge("test"))],
              settings=Settings(poll_s=0.01, repeat_s=10))
    run(rig.run())
    sounds = rig.sound.plays
    # ALARM at 30 s, then every 10 s up to the acknowledgement at 120 s: 1 + 9, nothing after.
    assert 9 <= sounds <= 11
    assert not [r for r in rig.monitor.raised if r.message.startswith("mute over")]


def test_new_episode_during_mute_still_alarms(tmp_path):
    script = episode_script(10, 30) + episode_script(100, 40)

    rig = Rig(tmp_path, script=script, duration_s=250, actions=[(45, lambda b: rig.monitor.acknowledge("test"))])
    run(rig.run())
    alarms = [r for r in rig.raised("alarm")]
    assert len(alarms) == 2
    second = alarms[1]
    assert rig.t(second.at) == pytest.approx(120, abs=1)  # well inside the 5-minute mute
    assert second.sounded == "reported, not played"
    assert rig.monitor.muted_until is not None or rig.t(rig.clock.now()) > 345


def test_anklet_ack_request_reaches_the_running_monitor(tmp_path):
    script = episode_script(10, 200)

    def ack_from_another_process(band):
        other = Store(tmp_path / "night.db")  # what `anklet ack` does
        other.request("ack", rig.clock.now(), mute_s=600, source="cli")
        other.close()

    rig = Rig(tmp_path, script=script, duration_s=120, actions=[(60, ack_from_another_process)])
    run(rig.run())
    [alarm] = [a for a in rig.store.alarms() if a.level == "alarm"]
    assert alarm.acked_by == "cli"
    assert alarm.acked_at.timestamp() - START == pytest.approx(60, abs=2)
    assert rig.monitor.muted_until - START == pytest.approx(660, abs=2)


def test_status_view_lines_when_not_a_tty(tmp_path):
    rig = run(Rig(tmp_path, script=episode_script(30, 30), duration_s=130).run())
    text = rig.out.getvalue()
    assert "connected to the band" in text
    assert "ALARM: PROLONGED RHYTHMIC SHAKING" in text
    assert "status: band connected" in text
    assert "\x1b[" not in text  # no ANSI when not a terminal
    last = text.splitlines()[-3:]  # the last line is a banner: a row of !, the line, a row of !
    assert set(last[0]) == {"!"} and "monitor stopped" in last[1] and last[2] == last[0]


def test_status_view_redraws_on_a_tty(tmp_path):
    import io

    from anklet.statusview import Snapshot, StatusView

    out = io.StringIO()
    view = StatusView(out, tty=True)
    view.min_redraw_s = 0
    snap = Snapshot(now=START, band="b", link="connected", silent_s=3, battery_pct=55, worn=True,
                    episode="rhythmic movement for 25 s (ALARM)", alarms=["ALARM: shaking"])
    view.update(snap)
    first = out.getvalue()
    view.line(START + 1, "something happened", "fault")
    view.update(snap)
    text = out.getvalue()[len(first):]
    n_lines = first.count("\n")
    assert text.count("\x1b[1A\x1b[2K") >= 2 * n_lines  # the block was cleared before the line and the redraw
    assert "something happened" in text and "rhythmic movement for 25 s" in first and "press a" in first


def test_escalation_during_mute_sounds(tmp_path):
    script = episode_script(10, 400)
    rig = Rig(tmp_path, script=script, duration_s=450, actions=[(40, lambda b: rig.monitor.acknowledge("test", mute_s=900))])
    run(rig.run())
    [esc] = rig.raised("escalation")
    assert rig.t(esc.at) == pytest.approx(310, abs=1.5)  # muted until 940 s, and still it sounds
    assert esc.sounded == "reported, not played"


def test_after_an_alarmed_episode_the_triage_is_offered(tmp_path):
    rig = run(Rig(tmp_path, script=episode_script(10, 40) + episode_script(100, 8), duration_s=150).run())
    text = rig.out.getvalue()
    [ep_id] = [e.id for e in rig.store.episodes() if e.max_level == "alarm"]
    assert f"anklet triage {ep_id} --db {tmp_path / 'night.db'}" in text
    assert text.count("anklet triage") == 1  # not for the short episode that raised nothing


def test_notification_failure_is_a_quiet_warning(tmp_path):
    from anklet.alerts import Notifier

    class Broken:
        async def send(self, **kw):
            raise RuntimeError("no notification daemon")

    rig = Rig(tmp_path, script=episode_script(10, 30), duration_s=100)
    rig.monitor.notifier = Notifier(factory=Broken)
    run(rig.run())
    [warn] = rig.raised(code="notify")
    assert warn.level == "warning" and "no notification daemon" in warn.message
    assert warn.sounded is None  # reported, not sounded
    assert [a.level for a in rig.store.alarms(faults=True)] == ["warning"]


def test_acknowledge_key_on_a_terminal(tmp_path, monkeypatch):
    import os
    import pty
    import sys

    master, slave = pty.openpty()
    stdin = os.fdopen(slave, "r")
    monkeypatch.setattr(sys, "stdin", stdin)
    rig = Rig(tmp_path, script=episode_script(10, 100), duration_s=120,
              actions=[(40, lambda b: os.write(master, b"a"))])
    rig.band.pace_max_s = 0.02

    async def main():
        mon = asyncio.create_task(rig.monitor.run(keys=True))
        await rig.band.run()
        rig.monitor.stop()
        await mon

    try:
        run(main())
    finally:
        stdin.close()
        os.close(master)
    [alarm] = [a for a in rig.store.alarms() if a.level == "alarm"]
    assert alarm.acked_by == "key"


def test_monitor_command_errors(tmp_path, monkeypatch):
    import argparse

    from anklet import monitor
    from anklet.cli import CliError

    parser = argparse.ArgumentParser()
    monitor.register(parser.add_subparsers())
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    args = parser.parse_args(["monitor", "--alarm-s", "5", "--db", str(tmp_path / "n.db")])
    with pytest.raises(CliError, match="out of range"):
        args.func(args)
    args = parser.parse_args(["monitor", "--db", str(tmp_path / "n.db")])
    with pytest.raises(CliError, match="no band is paired|not paired"):
        args.func(args)


def test_triage_questions_after_an_alarm_are_saved_with_the_episode(tmp_path):
    import io

    started = {}

    def ask(band):
        started["task"] = asyncio.ensure_future(
            rig.monitor.triage(inp=io.StringIO("no\n" * 40), out=started.setdefault("out", io.StringIO())))

    rig = Rig(tmp_path, script=episode_script(10, 40), duration_s=150, actions=[(80, ask)])

    async def main():
        await rig.run(after=lambda r: started["task"])

    run(main())
    result = started["task"].result()
    [ep] = [e for e in rig.store.episodes() if e.max_level == "alarm"]
    saved = rig.store.triage_for(ep.id)
    assert saved is not None and saved["result"]["level"] == result["level"]
    assert saved["answers"]["episode"]["duration_s"] == 40  # the band's data filled in
    assert "not a diagnosis" in started["out"].getvalue().lower()
    assert f"triage of episode {ep.id}" in rig.out.getvalue()
    assert not rig.monitor.view.paused


def test_triage_key_on_a_terminal(tmp_path, monkeypatch):
    import os
    import pty
    import sys

    master, slave = pty.openpty()
    stdin = os.fdopen(slave, "r")
    monkeypatch.setattr(sys, "stdin", stdin)
    out = os.fdopen(os.dup(master), "rb", buffering=0)
    rig = Rig(tmp_path, script=episode_script(10, 40), duration_s=150,
              actions=[(80, lambda b: os.write(master, b"t")),
                       (90, lambda b: os.write(master, b"no\n" * 40 + b"\x04"))])
    rig.band.pace_max_s = 0.02
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # the questions' output

    async def main():
        mon = asyncio.create_task(rig.monitor.run(keys=True))
        await rig.band.run()
        for _ in range(200):  # the answers are being read in their thread
            if rig.store.triage_for(1) is not None:
                break
            await asyncio.sleep(0.02)
        rig.monitor.stop()
        await mon

    try:
        run(main())
    finally:
        stdin.close()
        out.close()
        os.close(master)
    [ep] = [e for e in rig.store.episodes() if e.max_level == "alarm"]
    assert rig.store.triage_for(ep.id) is not None
