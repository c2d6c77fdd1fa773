"""Push notifications against a local HTTP server standing in for ntfy (and for Apprise's json:// target): pushed at
the ALARM, again every repeat interval of the monitor's (virtual) clock, stopped by an acknowledgement (with one push
saying who), and a refused push is a FAULT that ends when pushes get through again."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_monitor_helpers import Rig, episode_script

from anklet.outputs.hub import OutputHub
from anklet.outputs.push import PushOutput


class FakeNtfy:
    """An HTTP server on loopback that keeps every POST (with the monitor's clock at that moment) and can refuse."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.got: list[dict] = []
        self.refuse: int | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if server.refuse:
                    self.send_response(server.refuse)
                    self.end_headers()
                    self.wfile.write(b'{"error":"topic is write-protected"}')
                    return
                server.got.append({"at": server.clock.now(), "path": self.path, "body": body,
                                   "headers": {k.lower(): v for k, v in self.headers.items()}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"id":"x","event":"message"}')

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def push_rig(tmp_path, **kw):
    rig = Rig(tmp_path, **{"script": episode_script(10, 600), "duration_s": 40, **kw})
    ntfy = FakeNtfy(rig.clock)
    out = PushOutput(ntfy.url + "/anklet-night", repeat_s=20, say=lambda s: None)
    rig.monitor.outputs = OutputHub(rig.monitor, [out])
    return rig, ntfy, out


async def step_through(rig, seconds: int, at=None):
    """Move the monitor's clock a second at a time, each tick's publish finished before the next (no race with
    the real time an HTTP request takes); at(t) runs at each step."""
    hub = rig.monitor.outputs
    for n in range(seconds):
        if at is not None:
            at(n)
        rig.clock.advance(1)
        for _ in range(500):
            await asyncio.sleep(0.01)
            if all(t.done() for t in hub._busy.values()) and not hub._next:
                break


def test_an_alarm_is_pushed_again_every_repeat_until_acknowledged(tmp_path):
    def ack_at(n):
        if n == 70:
            rig.monitor.acknowledge("Mum")

    rig, ntfy, out = push_rig(tmp_path)
    try:
        asyncio.run(rig.run(after=lambda r: step_through(r, 120, ack_at)))
    finally:
        ntfy.close()
    [alarm] = rig.raised("alarm")
    pushes = [g for g in ntfy.got if "ALARM" in g["headers"]["title"]]
    assert pushes and pushes[0]["path"] == "/anklet-night"
    assert pushes[0]["headers"]["priority"] == "urgent" and "PROLONGED RHYTHMIC SHAKING" in pushes[0]["body"]
    # Every 20 s of the monitor's clock (when each was decided: the clock may move on while a request travels).
    decided = [p.at for p in out.sent if p.kind == "alarm"]
    assert len(decided) == len(pushes) and decided[0] == pytest.approx(alarm.at, abs=1)  # at once
    gaps = [b - a for a, b in zip(decided, decided[1:], strict=False)]
    assert len(gaps) >= 3 and all(20 <= g < 21.5 for g in gaps)
    assert "(still," in pushes[1]["headers"]["title"]
    # Acknowledged: one push says who, and no more alarm pushes (the mute lasts 5 min, the test 50 s more).
    ack_at_t = rig.store.alarms()[0].acked_at.timestamp()
    after = [g for g in ntfy.got if g["at"] >= ack_at_t]
    assert [g["headers"]["title"] for g in after] == ["anklet band-test: acknowledged"]
    assert "by Mum" in after[0]["body"] and after[0]["headers"]["tags"] == "white_check_mark"
    assert all(g["at"] < ack_at_t for g in pushes)
    assert not rig.raised(code="output_push")
    assert [p.kind for p in out.sent].count("ack") == 1


def test_a_refused_push_is_a_fault_and_what_was_not_delivered_goes_out_later(tmp_path):
    opened = []

    def refuse(n):
        ntfy.refuse = 403 if n < 30 else None
        if n == 30:
            opened.append(rig.clock.now())

    rig, ntfy, out = push_rig(tmp_path)
    try:
        ntfy.refuse = 403
        asyncio.run(rig.run(after=lambda r: step_through(r, 60, refuse)))
    finally:
        ntfy.close()
    [fault] = rig.raised(code="output_push")
    assert fault.level == "fault" and "HTTP 403" in fault.message and "write-protected" in fault.message
    assert fault.sounded  # the local speaker is the primary path
    assert "output_push" not in rig.monitor.faults.active  # pushes got through again: the FAULT ended
    assert "resolved: output push" in rig.out.getvalue()
    # The ALARM raised while refused was pushed when the server took pushes again (and the FAULT itself too).
    titles = [g["headers"]["title"] for g in ntfy.got]
    assert any("ALARM" in t for t in titles)
    assert rig.raised("alarm")[0].at < opened[0] <= ntfy.got[0]["at"]


def test_an_unreachable_server_is_a_fault(tmp_path):
    rig, ntfy, out = push_rig(tmp_path)
    ntfy.close()  # nobody listens there any more
    asyncio.run(rig.run(after=lambda r: step_through(r, 5)))
    [fault] = rig.raised(code="output_push")
    assert "ntfy could not be reached" in fault.message and rig.raised("alarm")


def test_apprise_urls_are_pushed_too(tmp_path):
    pytest.importorskip("apprise", reason="Apprise is the optional extra anklet[push] (make test installs it)")
    rig = Rig(tmp_path, script=episode_script(10, 600), duration_s=40)
    server = FakeNtfy(rig.clock)
    host = server.url.split("//")[1]
    out = PushOutput(apprise=[f"json://{host}/apprise"], repeat_s=20, say=lambda s: None)
    rig.monitor.outputs = OutputHub(rig.monitor, [out])
    try:
        asyncio.run(rig.run(after=lambda r: step_through(r, 25)))
    finally:
        server.close()
    sent = [json.loads(g["body"]) for g in server.got if g["path"] == "/apprise"]
    alarms = [s for s in sent if "ALARM" in s["title"]]
    assert len(alarms) >= 2 and "PROLONGED RHYTHMIC SHAKING" in alarms[0]["message"]
    assert not rig.raised(code="output_push")


def test_a_push_output_without_a_target_is_refused_at_start(tmp_path):
    rig = Rig(tmp_path, script=episode_script(10, 60), duration_s=40)
    rig.monitor.outputs = OutputHub(rig.monitor, [PushOutput(say=lambda s: None)])
    asyncio.run(rig.run())
    [fault] = rig.raised(code="output_push")
    assert "no ntfy topic and no Apprise URL" in fault.message
    assert rig.raised("alarm")


def test_settings_build_it(tmp_path):
    from anklet.config import load
    from anklet.outputs.registry import BuildContext, build_outputs

    p = tmp_path / "config.toml"
    p.write_text('[alarm]\nrepeat_s = 45\n[outputs.push]\nenabled = true\nntfy = "https://ntfy.sh/anklet-x1"\n'
                 'apprise = ["tgram://123:abc/456"]\n')
    cfg = load(p)
    [out] = build_outputs(cfg, BuildContext(cfg, say=lambda s: None))
    assert isinstance(out, PushOutput) and out.repeat_s == 45 and out.apprise_urls == ["tgram://123:abc/456"]
    p.write_text('[outputs.push]\nntfy = "ntfy.sh/anklet"\n')
    with pytest.raises(ValueError, match="outputs.push.ntfy: expected the topic's URL"):
        load(p)


def test_the_fault_stays_until_a_push_gets_through_even_when_acknowledged(tmp_path):
    """Acknowledging the FAULT does not make a broken channel look mended: it ends only when a push is delivered
    (here when the mute is over and the alarm, still going, is pushed again)."""
    seen = {}

    def script(n):
        ntfy.refuse = 403 if n < 20 else None
        if n == 5:
            rig.monitor.acknowledge("Dad")
        if n == 200:
            seen["during mute"] = "output_push" in rig.monitor.faults.active
            seen["pushed"] = len(ntfy.got)

    rig, ntfy, out = push_rig(tmp_path)
    try:
        ntfy.refuse = 403
        asyncio.run(rig.run(after=lambda r: step_through(r, 320, script)))
    finally:
        ntfy.close()
    assert seen == {"during mute": True, "pushed": 0}
    assert "output_push" not in rig.monitor.faults.active
    assert any("ALARM" in g["headers"]["title"] for g in ntfy.got)


def test_the_acknowledge_button_on_a_push_reaches_the_monitor_through_the_page(tmp_path):
    """ntfy's Acknowledge button: the push carries an "http" action to the bedside page; pressing it on the phone
    (here: the request the ntfy app would make, built from the push's own header) acknowledges in the monitor."""
    import urllib.request

    from anklet.outputs.web import WebOutput

    token = "push-test-token-0123456789"
    rig, ntfy, out = push_rig(tmp_path)
    web = WebOutput("127.0.0.1", 0, token=token, say=lambda s: None, qr=False)
    rig.monitor.outputs = OutputHub(rig.monitor, [web, out])
    pressed = {}

    async def set_url(rig):
        for _ in range(500):
            if web.url:
                break
            await asyncio.sleep(0.01)
        out.ack_url = f"http://127.0.0.1:{web.port}/{token}/ack"

    def phone(n):
        if n == 10 and not pressed:
            action = next(g for g in ntfy.got if "ALARM" in g["headers"]["title"])["headers"]["actions"]
            kind, label, url, *params = [p.strip() for p in action.split(", ")]
            opts = dict(p.split("=", 1) for p in params)
            assert (kind, label, opts["method"], opts["clear"]) == ("http", "Acknowledge", "POST", "true")
            req = urllib.request.Request(url, data=opts["body"].encode(), method="POST",
                                         headers={"Content-Type": opts["headers.Content-Type"]})

            def press():  # from another thread: the page is served by this very loop
                with urllib.request.urlopen(req, timeout=10) as r:
                    pressed["reply"] = json.loads(r.read())

            pressed["thread"] = threading.Thread(target=press)
            pressed["thread"].start()

    async def night_then_wait(rig):
        await step_through(rig, 20, phone)
        while pressed["thread"].is_alive():
            await asyncio.sleep(0.01)
        await step_through(rig, 5)

    try:
        asyncio.run(rig.run(before=set_url, after=night_then_wait))
    finally:
        ntfy.close()
    assert pressed["reply"] == {"acknowledged": 1, "by": "web page (ntfy, 127.0.0.1)"}
    [stored] = [a for a in rig.store.alarms() if a.level == "alarm"]
    assert stored.acked_by == "web page (ntfy, 127.0.0.1)"
    last = ntfy.got[-1]
    assert last["headers"]["title"].endswith("acknowledged") and "actions" not in last["headers"]


def test_a_step_of_the_wall_clock_does_not_hold_back_the_repeats(tmp_path):
    """An hour back (NTP, a parent setting the clock) while an alarm is pushed: it is pushed again all the same,
    every 20 s of the monitor's monotonic clock."""
    def step(n):
        if n == 3:
            rig.clock.step_wall(-3600)

    rig, ntfy, out = push_rig(tmp_path)
    try:
        asyncio.run(rig.run(after=lambda r: step_through(r, 70, step)))
    finally:
        ntfy.close()
    stepped = [p for p in out.sent if p.kind == "alarm" and p.at < rig.raised("alarm")[0].at]
    assert len(stepped) >= 3  # after the step: at the repeat interval, not an hour later
