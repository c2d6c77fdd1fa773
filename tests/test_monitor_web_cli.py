"""`anklet monitor --web` as a process: settings from config.toml, the page served and fed by the monitor, a bad
edit of the file refused while it runs (the old settings kept), and a clean stop on SIGTERM.

The band is an in-process virtual band standing in for the Bluetooth link (the only thing replaced)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from test_web import read_events

TOKEN = "cli-test-token-0123456789"

RUNNER = """
import sys
from anklet import monitor
from anklet.inproc import InprocLink, VirtualBand
monitor._open_ble_link = lambda band: InprocLink(VirtualBand(duration_s=10), band or "stand-in-band")
from anklet.cli import main
sys.exit(main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_anklet_monitor_serves_the_page_and_follows_its_settings_file(tmp_path):
    port = free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'band = "nursery"\n[alarm]\nalarm_s = 25\n[outputs.web]\ntoken = "{TOKEN}"\n')
    env = dict(os.environ, ANKLET_CONFIG=str(cfg), ANKLET_DB=str(tmp_path / "night.db"))
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
        env.pop(var, None)
    out = open(tmp_path / "out.txt", "w+")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, "monitor", "--web", f"127.0.0.1:{port}", "--sound",
                             "report", "--no-sentinel"], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env)
    url = f"http://127.0.0.1:{port}/{TOKEN}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    assert r.status == 200
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "out.txt").read_text()
                time.sleep(0.2)
        events = read_events(url + "events", lambda e, d: e == "state" and json.loads(d)["link"] == "connected")
        state = json.loads(events[-1][1])
        assert state["band"] == "nursery" and state["alarms"] == []
        # A bad edit while it runs: refused, said so, the old value kept.
        cfg.write_text(f'[alarm]\nalarm_s = 500\n[outputs.web]\ntoken = "{TOKEN}"\n')
        deadline = time.monotonic() + 30
        while "config refused" not in (tmp_path / "out.txt").read_text():
            assert time.monotonic() < deadline, (tmp_path / "out.txt").read_text()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
    text = (tmp_path / "out.txt").read_text()
    assert f"bedside page: open {url}" in text
    assert "alarm after 25 s" in text  # from the file
    assert "alarm.alarm_s: 500 is out of range" in text and "keeps its previous settings" in text
    assert "monitor stopped" in text
