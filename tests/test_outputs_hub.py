"""Alarm outputs in the monitor: published every tick and at once on a change, acknowledge through them, and an
output that fails is a FAULT (the monitor goes on; the alarm still sounds locally)."""

from __future__ import annotations

import asyncio

import pytest
from test_monitor_helpers import START, Rig, episode_script

from anklet.monitor import Settings
from anklet.outputs.base import BoardState, OutputError
from anklet.outputs.hub import OutputHub


class Recorder:
    """An output that keeps every state it is given, and can be told to fail."""

    def __init__(self, name="rec", fail_start=False):
        self.name = name
        self.fail_start = fail_start
        self.fail_between: tuple[float, float] | None = None
        self.states: list[BoardState] = []
        self.control = None
        self.closed = False

    async def start(self, control):
        if self.fail_start:
            raise OutputError("port 8765 is taken")
        self.control = control

    async def publish(self, state):
        if self.fail_between and self.fail_between[0] <= state.now - START < self.fail_between[1]:
            raise OutputError("broker unreachable")
        self.states.append(state)

    async def close(self):
        self.closed = True


def rig_with(tmp_path, outputs, **kw):
    rig = Rig(tmp_path, **kw)
    rig.monitor.outputs = OutputHub(rig.monitor, outputs)
    return rig


def run(coro):
    return asyncio.run(coro)


def test_published_every_tick_and_at_once_when_an_alarm_is_raised(tmp_path):
    rec = Recorder()
    rig = rig_with(tmp_path, [rec], script=episode_script(10, 40), duration_s=90)
    ticks = []
    tick = rig.monitor.tick

    async def counted(now):
        ticks.append(now)
        await tick(now)

    rig.monitor.tick = counted
    run(rig.run())
    assert rec.closed
    [alarm] = rig.raised("alarm")
    # The state with the ALARM was published at the very instant it was raised, not at the next tick.
    first = next(s for s in rec.states if s.loudest and s.loudest.level == "alarm")
    assert first.now == alarm.at and first.sounding
    assert "PROLONGED RHYTHMIC SHAKING" in first.loudest.message
    [notice] = rig.raised("notice")
    assert first.loudest.since == notice.at and not first.loudest.acked  # one alarm per episode, since its NOTICE
    # Every tick too (a state not yet taken when the next is due is replaced by the newer one: no stale queue).
    nows = [s.now for s in rec.states]
    assert nows == sorted(nows) and ticks[-1] in nows and len(set(nows) & set(ticks)) > 10
    assert rec.states[-1].recent and rec.states[-1].recent[0].since >= rec.states[-1].recent[-1].since
    assert any(s.episode.startswith("rhythmic movement for") for s in rec.states)
    assert rec.states[-1].battery_pct is not None and rec.states[-1].link


def test_acknowledge_through_an_output_reaches_the_monitor_and_says_who(tmp_path):
    rec = Recorder()

    def ack(band):
        rec.acked = rec.control.acknowledge("phone 192.168.1.20")

    rig = run(rig_with(tmp_path, [rec], script=episode_script(10, 200), duration_s=60, actions=[(45, ack)]).run())
    assert rec.acked == 1
    [stored] = [a for a in rig.store.alarms() if a.level == "alarm"]
    assert stored.acked_by == "phone 192.168.1.20"
    assert stored.acked_at.timestamp() == pytest.approx(START + 45, abs=1.5)
    before = [s for s in rec.states if not s.last_ack]
    after = [s for s in rec.states if s.last_ack]
    assert before[-1].sounding and before[-1].now - START <= 45
    assert after and after[0].now - START == pytest.approx(45, abs=1.5)  # shown at once
    assert not after[0].sounding and after[0].alarms[0].acked
    assert after[0].alarms[0].acked_by == "phone 192.168.1.20"
    assert "by phone 192.168.1.20" in after[-1].last_ack
    assert after[-1].muted_s == pytest.approx(300 - (after[-1].now - START - 45), abs=1.5)


def test_a_key_press_is_shown_to_the_outputs_too(tmp_path):
    rec = Recorder()
    rig = rig_with(tmp_path, [rec], script=episode_script(10, 200), duration_s=60,
                   actions=[(45, lambda b: rig.monitor.acknowledge("key"))])
    run(rig.run())
    assert rec.states[-1].alarms[0].acked_by == "key"


def test_an_output_that_fails_is_a_fault_until_it_delivers_again(tmp_path):
    rec = Recorder("mqtt")
    rec.fail_between = (20, 40)
    rig = run(rig_with(tmp_path, [rec], script=(), duration_s=70, settings=Settings(poll_s=0.01, no_data_s=600)).run())
    [fault] = rig.raised(code="output_mqtt")
    assert fault.level == "fault" and "broker unreachable" in fault.message
    assert 20 <= rig.t(fault.at) < 40
    assert "resolved: output mqtt" in rig.out.getvalue()
    stored = [a for a in rig.store.alarms(faults=True) if a.code == "output_mqtt"]
    assert stored and stored[0].ended_at is not None
    assert 40 <= rig.t(stored[0].ended_at.timestamp()) < 70
    assert fault.sounded  # the local speaker stays the primary path


def test_an_output_that_cannot_start_is_a_fault_and_the_others_go_on(tmp_path):
    bad, good = Recorder("web", fail_start=True), Recorder("push")
    rig = run(rig_with(tmp_path, [bad, good], script=episode_script(10, 40), duration_s=60,
                       settings=Settings(poll_s=0.01)).run())
    [fault] = rig.raised(code="output_web")
    assert "could not start: port 8765 is taken" in fault.message
    assert bad.states == [] and good.states
    assert any(a.code == "output_web" for a in good.states[-1].alarms)
    assert rig.raised("alarm")


def test_an_output_that_hangs_does_not_hold_up_the_monitor(tmp_path, monkeypatch):
    import anklet.outputs.hub as hub

    monkeypatch.setattr(hub, "PUBLISH_TIMEOUT_S", 0.2)

    class Stuck(Recorder):
        async def publish(self, state):
            await asyncio.sleep(3600)

    stuck = Stuck("slow")
    rig = run(rig_with(tmp_path, [stuck], script=episode_script(10, 40), duration_s=60).run())
    assert rig.raised("alarm")  # the alarm came on time all the same
    assert rig.raised(code="output_slow")
