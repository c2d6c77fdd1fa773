"""The bedside page's server, in the monitor's own loop: the token guard, the event stream, acknowledge and the
triage answers reaching the monitor, and a port that is taken being a FAULT. (The page itself, in a real
browser: test_web_browser.py.)"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request

import pytest
from test_monitor_helpers import Rig, episode_script

from anklet.monitor import Settings
from anklet.outputs.hub import OutputHub
from anklet.outputs.web import WebOutput

TOKEN = "test-token-0123456789abcdef"


def web_rig(tmp_path, **kw):
    rig = Rig(tmp_path, **kw)
    said: list[str] = []
    web = WebOutput("127.0.0.1", 0, token=TOKEN, say=said.append)
    rig.monitor.outputs = OutputHub(rig.monitor, [web])
    return rig, web, said


def http(url: str, body: dict | None = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def read_events(url: str, until, limit: int = 200) -> list[tuple[str, str]]:
    """Server-sent events from url until until(event, data) is true."""
    got = []
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        event = data = ""
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and event:
                got.append((event, data))
                if until(event, data) or len(got) >= limit:
                    return got
                event = data = ""
    return got


def run(coro):
    return asyncio.run(coro)


def test_the_token_guards_every_route(tmp_path):
    results = {}

    async def probe(rig):
        base = f"http://127.0.0.1:{web.port}"
        for path in ("/", f"/{TOKEN}x/", "/wrong/events", "/wrong/alarm.wav", "/favicon.ico", f"/{TOKEN[:-1]}/ack"):
            results[path] = await asyncio.to_thread(http, base + path)
        results["post"] = await asyncio.to_thread(http, f"{base}/wrong/ack", {"by": "x"})
        results["page"] = await asyncio.to_thread(http, f"{base}/{TOKEN}/")
        results["wav"] = await asyncio.to_thread(http, f"{base}/{TOKEN}/alarm.wav")

    rig, web, said = web_rig(tmp_path, script=episode_script(10, 100), duration_s=40)
    run(rig.run(after=probe))
    page, wav = results.pop("page"), results.pop("wav")
    assert {code for code, _ in results.values()} == {403}
    assert page[0] == 200 and b"Tap once to turn on the alarm sound" in page[1]
    assert wav[0] == 200 and wav[1][:4] == b"RIFF"
    assert rig.store.alarms()[0].acked_at is None  # the refused POST acknowledged nothing
    # The terminal was told where to open it, with a QR code.
    assert said[0].startswith(f"bedside page: open http://127.0.0.1:{web.port}/{TOKEN}/")
    assert "\u2588" in said[1]


def test_the_stream_shows_the_alarm_and_acknowledge_reaches_the_monitor(tmp_path):
    seen = {}

    async def phone(rig):
        url = f"http://127.0.0.1:{web.port}/{TOKEN}/"
        ev = await asyncio.to_thread(read_events, url + "events",
                                     lambda e, d: e == "state" and json.loads(d)["sounding"])
        seen["first"] = ev[0]
        seen["alarm"] = json.loads(ev[-1][1])
        seen["ack"] = await asyncio.to_thread(http, url + "ack", {"by": "Mum"})
        ev = await asyncio.to_thread(read_events, url + "events", lambda e, d: e == "state")
        seen["after"] = json.loads(ev[-1][1])
        # Nothing new: a heartbeat every couple of seconds, so the page knows the monitor is alive.
        ev = await asyncio.to_thread(read_events, url + "events", lambda e, d: e == "beat")
        seen["beat"] = ev[-1]

    rig, web, _ = web_rig(tmp_path, script=episode_script(10, 300), duration_s=60)
    run(rig.run(after=phone))
    assert seen["first"][0] == "hello"
    loud = seen["alarm"]["alarms"][0]
    assert loud["level"] == "alarm" and "PROLONGED RHYTHMIC SHAKING" in loud["message"] and loud["at"]
    assert seen["alarm"]["link"] == "connected" and seen["alarm"]["battery_pct"] == 89
    assert seen["alarm"]["episode"].startswith("rhythmic movement for")
    status, body = seen["ack"]
    assert status == 200 and json.loads(body) == {"acknowledged": 1, "by": "web page (Mum, 127.0.0.1)"}
    [stored] = [a for a in rig.store.alarms() if a.level == "alarm"]
    assert stored.acked_by == "web page (Mum, 127.0.0.1)"
    after = seen["after"]
    assert not after["sounding"] and after["alarms"][0]["acked"] and "web page (Mum" in after["last_ack"]
    assert seen["beat"][0] == "beat"


def test_mute_reaches_the_monitor_for_fifteen_minutes(tmp_path):
    async def phone(rig):
        await asyncio.to_thread(http, f"http://127.0.0.1:{web.port}/{TOKEN}/mute", {"by": ""})

    rig, web, _ = web_rig(tmp_path, script=episode_script(10, 300), duration_s=60)
    run(rig.run(after=phone))
    assert rig.monitor.muted_until - rig.clock.now() == pytest.approx(900, abs=2)
    [stored] = [a for a in rig.store.alarms() if a.level == "alarm"]
    assert stored.acked_by == "web page (127.0.0.1)"


def test_triage_questions_after_an_episode_use_the_engine_and_are_saved(tmp_path):
    got = {}

    async def phone(rig):
        for _ in range(500):  # the episode's END taken in (the band is done; the monitor may still be at it)
            if rig.monitor.last_alarmed_episode is not None:
                break
            await asyncio.sleep(0.02)
        ep = rig.monitor.last_alarmed_episode
        url = f"http://127.0.0.1:{web.port}/{TOKEN}/triage/{ep}"
        got["form"] = json.loads((await asyncio.to_thread(http, url))[1])
        got["bad"] = await asyncio.to_thread(http, url, {"answers": {"observations.breathing_change": "maybe"}})
        got["unknown"] = await asyncio.to_thread(http, url, {"answers": {"episode.duration_s": 5}})
        got["ok"] = await asyncio.to_thread(http, url, {"answers": {"observations.breathing_change": "yes",
                                                                    "observations.stiffness": ""}, "by": "Dad"})
        got["missing"] = await asyncio.to_thread(http, url[: url.rindex("/")] + "/999")
        got["ep"] = ep

    rig, web, _ = web_rig(tmp_path, script=episode_script(10, 40), duration_s=80)
    run(rig.run(after=phone))
    form = got["form"]
    keys = [f["key"] for f in form["fields"]]
    assert keys[0] == "observations.unresponsive" and "observations.breathing_change" in keys
    assert not any(k.startswith("episode.") and k != "episode.after_waking" for k in keys)  # the band measured those
    assert form["duration_s"] == 40
    assert got["bad"][0] == 400 and b"breathing" in got["bad"][1]
    assert got["unknown"][0] == 400
    assert got["missing"][0] == 404
    status, body = got["ok"]
    result = json.loads(body)
    assert status == 200 and result["level"] == "emergency"
    saved = rig.store.triage_for(got["ep"])
    assert saved["result"]["level"] == "emergency"
    assert saved["answers"]["observations"]["breathing_change"] == "yes"
    assert saved["answers"]["observations"]["stiffness"] == "unknown"
    assert saved["answers"]["episode"]["duration_s"] == 40


def test_a_port_already_taken_is_a_fault_and_the_monitor_goes_on(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        rig = Rig(tmp_path, script=episode_script(10, 40), duration_s=60, settings=Settings(poll_s=0.01))
        rig.monitor.outputs = OutputHub(rig.monitor, [WebOutput("127.0.0.1", taken.getsockname()[1], token=TOKEN,
                                                                say=lambda s: None)])
        run(rig.run())
    finally:
        taken.close()
    [fault] = rig.raised(code="output_web")
    assert "cannot serve the page on 127.0.0.1" in fault.message and fault.sounded
    assert rig.raised("alarm")


def test_a_page_open_when_the_monitor_stops_is_told_so(tmp_path):
    got = {}

    async def phone(rig):
        url = f"http://127.0.0.1:{web.port}/{TOKEN}/events"

        def listen():
            got["events"] = [e for e, _ in read_events(url, lambda e, d: e == "stopped")]

        got["task"] = asyncio.ensure_future(asyncio.to_thread(listen))
        await asyncio.sleep(0.5)

    async def main():
        await rig.run(after=phone)
        await asyncio.wait_for(got["task"], 20)

    rig, web, _ = web_rig(tmp_path, script=episode_script(10, 40), duration_s=30)
    run(main())
    assert got["events"][0] == "hello" and "state" in got["events"] and got["events"][-1] == "stopped"


def test_the_token_is_made_once_and_kept_private(tmp_path):
    from anklet.outputs.web import load_token

    first = load_token(tmp_path)
    assert len(first) >= 16 and load_token(tmp_path) == first  # a phone's bookmark survives a restart
    assert (tmp_path / "web-token").stat().st_mode & 0o077 == 0
    (tmp_path / "web-token").unlink()
    assert load_token(tmp_path) != first
