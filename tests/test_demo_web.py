"""`anklet demo --web` (what `make demo` runs): the page's address is printed first and the page is served while
the night runs, from the demo's own monitor."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request


def test_the_demo_prints_the_page_address_and_serves_it_during_the_night(tmp_path):
    env = dict(os.environ)
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
        env.pop(var, None)
    proc = subprocess.Popen([sys.executable, "-m", "anklet.cli", "demo", "--web", "127.0.0.1:0", "--speed", "0",
                             "--hours", "0.5", "--link", "inproc", "--sound", "report", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            m = re.search(r"bedside page: open (http://127\.0\.0\.1:\d+/[\w-]+/) in a browser on this computer", line)
            if m:
                url = m.group(1)
                break
        else:
            raise AssertionError("no page address printed:\n" + "".join(lines))
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200 and b"Tap once to turn on the alarm sound" in r.read()
        with urllib.request.urlopen(url + "events", timeout=30) as r:
            assert next(r).startswith(b"retry:")
        rest, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    s = json.loads(rest.strip().splitlines()[-1])
    assert s["faults"] == [] and [a["level"] for a in s["alarms"]][:2] == ["notice", "alarm"]
