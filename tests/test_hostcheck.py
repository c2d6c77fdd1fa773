"""The computer's own FAULTs: sound muted or at zero, on battery, disk nearly full, asleep. The monitor with fake
probes on the virtual clock, then each real probe's parsing (pactl, amixer, sysfs, disk usage)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from test_monitor_helpers import Rig, activity_script

from anklet import hostcheck
from anklet.hostcheck import (
    AudioProbe,
    DiskProbe,
    PowerProbe,
    SleepInhibitor,
    parse_amixer,
    parse_pactl_mute,
    parse_pactl_volume,
    power_problem,
    slept_problem,
)
from anklet.monitor import Settings


class FakeProbe:
    """Answers from a script of (band second, problem) steps, reading the rig's clock."""

    def __init__(self, code, steps, clock, start, once=False):
        self.code, self.steps, self.clock, self.start, self.once = code, steps, clock, start, once
        self.calls = 0

    def check(self):
        self.calls += 1
        t = self.clock.monotonic() - self.start
        answer = None
        for at, problem in self.steps:
            if t >= at:
                answer = problem
        if self.once:
            self.steps = [(at, p) for at, p in self.steps if at > t]  # reported once
        return answer


async def step_through(rig, seconds: int):
    """Move the monitor's clock a second at a time; each tick's probes (run in a thread) finish before the next."""
    mon = rig.monitor
    for _ in range(seconds):
        rig.clock.advance(1)
        await asyncio.sleep(0.005)  # the tick runs (and may start the probes)
        for _ in range(1000):
            if mon._host_task is None or mon._host_task.done():
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(0)


def test_host_probes_raise_and_clear_faults_and_the_watch_goes_on(tmp_path):
    rig = Rig(tmp_path, script=(), duration_s=5, settings=Settings(poll_s=0.01, host_check_s=10, no_data_s=600))
    start = rig.clock.monotonic()
    audio = FakeProbe("host_audio", [(60, "the computer's sound is muted"), (150, None)], rig.clock, start)
    power = FakeProbe("host_power", [(0, None)], rig.clock, start)
    broken = FakeProbe("host_disk", [], rig.clock, start)
    broken.check = lambda: 1 / 0  # a probe that breaks knows nothing: no FAULT, the others go on
    slept = FakeProbe("host_slept", [(200, "the computer was asleep for 3 min 00 s")], rig.clock, start, once=True)
    rig.monitor.host_probes = [audio, power, broken, slept]
    asyncio.run(rig.run(after=lambda r: step_through(r, 300)))
    [muted] = rig.raised(code="host_audio")
    assert muted.level == "fault" and 60 <= rig.t(muted.at) < 70 and muted.sounded
    stored = [a for a in rig.store.alarms(faults=True) if a.code == "host_audio"]
    assert stored[0].ended_at is not None and 150 <= rig.t(stored[0].ended_at.timestamp()) < 160
    [asleep] = rig.raised(code="host_slept")
    assert "asleep" in asleep.message and 200 <= rig.t(asleep.at) < 210
    assert not rig.raised(code="host_power") and not rig.raised(code="host_disk")
    assert 28 <= audio.calls <= 32  # every 10 s of the monitor's clock, not every tick
    assert not rig.raised(code="host_crash")


# -- the real probes' parsing ----------------------------------------------------------------------------------

PACTL_VOLUME = ("Volume: front-left: 0 /   0% / -inf dB,   front-right: 0 /   0% / -inf dB\n"
                "        balance 0.00\n")
PACTL_VOLUME_ON = ("Volume: front-left: 39322 /  60% / -13.31 dB,   front-right: 39322 /  60% / -13.31 dB\n"
                   "        balance 0.00\n")
AMIXER_OFF = """Simple mixer control 'Master',0
  Capabilities: pvolume pswitch pswitch-joined
  Playback channels: Front Left - Front Right
  Limits: Playback 0 - 87
  Mono:
  Front Left: Playback 52 [60%] [-26.25dB] [off]
  Front Right: Playback 52 [60%] [-26.25dB] [off]
"""


def test_pactl_and_amixer_parsing():
    assert parse_pactl_mute("Mute: yes\n") is True and parse_pactl_mute("Mute: no\n") is False
    assert parse_pactl_mute("Connection failure: Connection refused\n") is None
    assert parse_pactl_volume(PACTL_VOLUME) == 0 and parse_pactl_volume(PACTL_VOLUME_ON) == 60
    assert parse_amixer(AMIXER_OFF) == (True, 60)
    assert parse_amixer(AMIXER_OFF.replace("[off]", "[on]").replace("[60%]", "[0%]")) == (False, 0)
    assert hostcheck.audio_problem(True, 60).startswith("the computer's sound is muted")
    assert "volume is at zero" in hostcheck.audio_problem(False, 0)
    assert hostcheck.audio_problem(None, None) is None  # unknown is not a fault


def test_the_audio_probe_with_pactl_on_the_path(tmp_path, monkeypatch):
    """The real probe, running a stand-in pactl that prints what PulseAudio/PipeWire print."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "volume.txt").write_text(PACTL_VOLUME)
    pactl = bin_dir / "pactl"
    pactl.write_text("#!/bin/sh\ncase \"$1\" in get-sink-mute) echo 'Mute: no';; "
                     f"get-sink-volume) cat {tmp_path / 'volume.txt'};; esac\n")
    pactl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert "volume is at zero" in AudioProbe().check()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert AudioProbe().check() is None  # neither pactl nor amixer: unknown


def _supply(root: Path, name: str, **files: str) -> None:
    d = root / name
    d.mkdir(parents=True)
    for k, v in files.items():
        (d / k).write_text(v + "\n")


def test_power_from_sysfs(tmp_path):
    laptop = tmp_path / "laptop"
    _supply(laptop, "AC", type="Mains", online="0")
    _supply(laptop, "BAT0", type="Battery", status="Discharging", capacity="47")
    _supply(laptop, "hid-mouse-battery", type="Battery", scope="Device", status="Discharging", capacity="5")
    assert "runs on its battery (47 %)" in PowerProbe(laptop).check()
    (laptop / "AC" / "online").write_text("1\n")
    assert power_problem(laptop) is None
    desktop = tmp_path / "desktop"
    desktop.mkdir()
    assert power_problem(desktop) is None and power_problem(tmp_path / "absent") is None
    pi = tmp_path / "pi"  # a mains-powered board whose battery is full
    _supply(pi, "BAT0", type="Battery", status="Full", capacity="100")
    assert power_problem(pi) is None


def test_disk_nearly_full(tmp_path):
    log = tmp_path / "anklet.db"
    free = shutil.disk_usage(tmp_path).free
    assert DiskProbe(log).check() is None or free < hostcheck.DISK_MIN_FREE_BYTES
    problem = DiskProbe(log, min_free=free * 2 + 1).check()
    assert problem is not None and str(log) in problem and "nearly full" in problem
    assert hostcheck.disk_problem(log, total=1000, free=10, min_free=0, min_pct=2.0) is not None
    assert hostcheck.disk_problem(log, total=1000, free=500, min_free=0, min_pct=2.0) is None


def test_sleep():
    assert slept_problem(2.0) is None
    assert "asleep for 3 min 00 s" in slept_problem(180)
    probe = hostcheck.SleepProbe()
    assert probe.check() is None  # not suspended between two calls


def test_sleep_inhibitor_says_why_not_where_it_cannot(monkeypatch):
    inh = SleepInhibitor()
    if inh.start():
        try:
            assert inh.proc is not None and inh.proc.poll() is None
        finally:
            inh.stop()
        assert inh.proc is None
    else:
        assert inh.why_not  # no logind here (a container): said, not a fault
    monkeypatch.setenv("PATH", "/nonexistent")
    inh = SleepInhibitor()
    assert not inh.start() and "not available" in inh.why_not


@pytest.mark.parametrize("code", ["host_audio", "host_power", "host_disk", "host_slept"])
def test_every_host_fault_has_a_meaning(code):
    from anklet.faults import CODES

    assert code in CODES


DBUS_MONITOR_SLEEP = """signal time=1796162078.123456 sender=org.freedesktop.DBus -> destination=:1.90 serial=2 path=/org/freedesktop/DBus; interface=org.freedesktop.DBus; member=NameAcquired
   string ":1.90"
signal time=1796162090.554013 sender=:1.3 -> destination=(null destination) serial=1045 path=/org/freedesktop/login1; interface=org.freedesktop.login1.Manager; member=PrepareForSleep
   boolean true
signal time=1796162131.002417 sender=:1.3 -> destination=(null destination) serial=1051 path=/org/freedesktop/login1; interface=org.freedesktop.login1.Manager; member=PrepareForSleep
   boolean false
"""


def test_prepare_for_sleep_in_dbus_monitor_output():
    signals = hostcheck.SleepSignals()
    got = [signals.feed(line) for line in DBUS_MONITOR_SLEEP.splitlines(keepends=True)]
    assert [g for g in got if g is not None] == [True, False]


def test_watch_sleep_runs_dbus_monitor_and_reports_each_signal(tmp_path, monkeypatch):
    """The real watcher, running a stand-in dbus-monitor that prints what the real one prints on a suspend."""
    (tmp_path / "out.txt").write_text(DBUS_MONITOR_SLEEP)
    fake = tmp_path / "dbus-monitor"
    fake.write_text(f"#!/bin/sh\n[ \"$1\" = --system ] || exit 3\ncat {tmp_path / 'out.txt'}\n"
                    "echo 'Failed to open connection to system bus' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    seen = []
    why = asyncio.run(hostcheck.watch_sleep(seen.append))
    assert seen == [True, False] and why == "Failed to open connection to system bus"
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert asyncio.run(hostcheck.watch_sleep(seen.append)) == "dbus-monitor is not available"


def test_going_to_sleep_is_a_fault_at_once(tmp_path):
    rig = Rig(tmp_path, script=activity_script(120, every_s=10), duration_s=120,
              actions=[(60, lambda b: rig.monitor.host_event("host_sleeping", "the computer is going to sleep now"))])
    asyncio.run(rig.run())
    [fault] = rig.raised(code="host_sleeping")
    assert fault.level == "fault" and 60 <= rig.t(fault.at) < 62 and fault.sounded
