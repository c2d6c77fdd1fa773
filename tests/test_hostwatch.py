"""The computer running the monitor: muted sound, a battery running down, a full disk and sleep are FAULTs (or
warnings), read from the text the real tools print and from sysfs, and raised by the real monitor on a virtual
clock."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from test_monitor_helpers import Rig, episode_script

from anklet.hostwatch import (
    DISK_LOW_B,
    HostState,
    SleepGuard,
    SystemProbe,
    parse_amixer,
    parse_pactl_mute,
    parse_pactl_volume,
    read_power,
)
from anklet.monitor import Settings

PACTL_VOLUME = ("Volume: front-left: 0 /   0% / -inf dB,   front-right: 0 /   0% / -inf dB\n"
                "        balance 0.00\n")
AMIXER = """Simple mixer control 'Master',0
  Capabilities: pvolume pswitch pswitch-joined
  Playback channels: Front Left - Front Right
  Limits: Playback 0 - 87
  Mono:
  Front Left: Playback 64 [74%] [-17.25dB] [off]
  Front Right: Playback 64 [74%] [-17.25dB] [off]
"""


def test_parsers_read_what_the_tools_print():
    assert parse_pactl_mute("Mute: yes\n") is True
    assert parse_pactl_mute("Mute: no\n") is False
    assert parse_pactl_mute("Connection failure: Connection refused\n") is None
    assert parse_pactl_volume(PACTL_VOLUME) == 0
    assert parse_pactl_volume("Volume: front-left: 32768 /  50% / -18.06 dB,   front-right: 45000 /  69% / -9 dB") == 69
    assert parse_amixer(AMIXER) == (True, 74)
    assert parse_amixer(AMIXER.replace("[off]", "[on]", 1)) == (False, 74)  # one channel on: heard
    assert parse_amixer("") == (None, None)


def supply(root: Path, name: str, **files: str) -> None:
    d = root / name
    d.mkdir(parents=True)
    for k, v in files.items():
        (d / k).write_text(v + "\n")


def test_power_from_sysfs(tmp_path):
    laptop = tmp_path / "laptop"
    supply(laptop, "AC", type="Mains", online="0")
    supply(laptop, "BAT0", type="Battery", status="Discharging", capacity="12")
    supply(laptop, "hidpp_battery_0", type="Battery", scope="Device", status="Discharging", capacity="3")  # a mouse
    assert read_power(laptop) == (True, 12)
    (laptop / "AC" / "online").write_text("1\n")
    (laptop / "BAT0" / "status").write_text("Charging\n")
    assert read_power(laptop) == (False, 12)
    desktop = tmp_path / "desktop"
    desktop.mkdir()
    assert read_power(desktop) == (None, None)  # nothing to read: unknown, not "on battery"
    assert read_power(tmp_path / "absent") == (None, None)


def test_this_computer_is_read_without_error(tmp_path):
    st = SystemProbe(tmp_path / "night.db").read()
    assert st.disk_free_b is not None and st.disk_free_b > 0


class Script:
    """A probe whose readings change at given virtual times."""

    def __init__(self, rig: Rig, changes: list[tuple[float, HostState]]) -> None:
        self.rig, self.changes = rig, changes
        self.reads = 0

    def read(self) -> HostState:
        self.reads += 1
        t = self.rig.t(self.rig.clock.now())
        st = HostState(muted=False, volume_pct=50, on_battery=False, battery_pct=None, disk_free_b=10 * DISK_LOW_B)
        for at, s in self.changes:
            if t >= at:
                st = s
        return st


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def test_muted_sound_low_battery_and_full_disk_are_faults_until_they_clear(tmp_path):
    ok = HostState(muted=False, volume_pct=50, on_battery=False, disk_free_b=10 * DISK_LOW_B)
    rig = Rig(tmp_path, script=episode_script(250, 30), duration_s=400, settings=Settings(poll_s=0.01, host_check_s=10))
    probe = Script(rig, [(60, HostState(muted=True, volume_pct=50, on_battery=False, disk_free_b=10 * DISK_LOW_B)),
                         (100, ok),
                         (150, HostState(muted=False, volume_pct=50, on_battery=True, battery_pct=40,
                                         disk_free_b=10 * DISK_LOW_B)),
                         (200, HostState(muted=False, volume_pct=50, on_battery=True, battery_pct=9,
                                         disk_free_b=10 * DISK_LOW_B)),
                         (300, HostState(muted=False, volume_pct=0, on_battery=False, disk_free_b=DISK_LOW_B // 2)),
                         (350, ok)])
    rig.monitor.host = probe
    run(rig.run())
    [sound] = rig.raised(code="host_sound")[:1]
    assert sound.level == "fault" and 60 <= rig.t(sound.at) <= 71 and "muted" in sound.message and sound.sounded
    assert len(rig.raised(code="host_sound")) == 2  # muted, then at 0 % after it had cleared
    [plug] = rig.raised(code="host_on_battery")
    assert plug.level == "warning" and 150 <= rig.t(plug.at) <= 161
    [flat] = rig.raised(code="host_battery")
    assert flat.level == "fault" and 200 <= rig.t(flat.at) <= 211 and "9 %" in flat.message
    [disk] = rig.raised(code="host_disk")
    assert disk.level == "fault" and 300 <= rig.t(disk.at) <= 311
    assert rig.raised("alarm")  # the episode still alarms through all of it
    out = rig.out.getvalue()
    assert "resolved" in out and not rig.monitor.faults.active.keys() & {"host_sound", "host_disk", "host_battery"}
    assert 30 <= probe.reads <= 45  # every 10 s of the 400 s night: bounded, not every tick


def test_unknown_is_never_a_fault(tmp_path):
    rig = Rig(tmp_path, duration_s=60, settings=Settings(poll_s=0.01, host_check_s=5))
    rig.monitor.host = Script(rig, [(0, HostState())])
    run(rig.run())
    assert not [r for r in rig.monitor.raised if r.code.startswith("host_")]


def test_a_sleep_inhibitor_refused_is_a_warning_and_one_held_is_released(tmp_path):
    refused = SleepGuard([sys.executable, "-c", "import sys; sys.stderr.write('no logind'); sys.exit(1)"],
                         settle_s=0.5)
    assert not refused.start() and "no logind" in refused.reason and not refused.held
    rig = Rig(tmp_path, duration_s=60, settings=Settings(poll_s=0.01, host_check_s=5))
    rig.monitor.host = Script(rig, [])
    rig.monitor.sleep_guard = refused
    run(rig.run())
    [w] = rig.raised(code="host_sleep")
    assert w.level == "warning" and not w.sounded

    held = SleepGuard([sys.executable, "-c", "import time; time.sleep(60)"], settle_s=0.2)
    assert held.start() and held.held
    proc = held.proc
    held.stop()
    assert not held.held and proc is not None and proc.poll() is not None
