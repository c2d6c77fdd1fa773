"""Home Assistant over MQTT against a real mosquitto on loopback: discovery retained, the alarm and its events,
acknowledge from the broker to the monitor (with who), the alarm sensor going unavailable when the band is silent,
the Last Will after a SIGKILL of a monitor process, an unreachable broker as a FAULT, two bands on one broker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from broker import Broker, Listener, free_port
from test_monitor_helpers import Rig, episode_script

from anklet.monitor import Settings
from anklet.outputs.hub import OutputHub
from anklet.outputs.mqtt import MqttOutput, parse_ack

BASE = "anklet/home/band_test"


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


def mqtt_rig(tmp_path, port, name="night.db", **kw):
    out = MqttOutput("127.0.0.1", port, say=lambda s: None, **{k: kw.pop(k) for k in ("band_name", "site") if k in kw})
    rig = Rig(tmp_path, db_name=name, **kw)
    rig.monitor.outputs = OutputHub(rig.monitor, [out])
    return rig, out


def connected(out):
    """`before` for Rig.run: the band's night starts once the monitor is on the broker (real time, bounded)."""

    async def wait(rig):
        deadline = time.monotonic() + 10
        while not (out._connected.is_set() and out in rig.monitor.outputs.running) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    return wait


async def stopped(live, base=BASE):
    """The monitor's last word (a clean stop says offline): everything it sent before has been heard."""
    await live.wait_for(lambda h: h.topic == f"{base}/availability" and h.payload == "offline")


def test_discovery_is_retained_and_the_alarm_reaches_the_broker(tmp_path, broker):
    async def main():
        async with Listener(broker.port, ("anklet/#",)) as live:
            rig, out = mqtt_rig(tmp_path, broker.port, script=episode_script(10, 40), duration_s=70)
            await rig.run(before=connected(out))
            await stopped(live)
        # A client that connects afterwards (Home Assistant restarting) gets the discovery and the availability.
        async with Listener(broker.port, ("homeassistant/#", "anklet/#")) as late:
            await late.wait_for(lambda h: h.topic == f"{BASE}/availability")
            await asyncio.sleep(0.3)
        return rig, out, live, late

    rig, out, live, late = asyncio.run(main())
    configs = {h.topic: h.json() for h in late.heard if h.topic.startswith("homeassistant/")}
    assert all(h.retain for h in late.heard)
    node = "anklet_home_band_test"
    assert set(configs) == {f"homeassistant/{c}/{node}/{k}/config" for c, k in
                            [("binary_sensor", "alarm"), ("binary_sensor", "fault"), ("sensor", "battery"),
                             ("event", "alarms"), ("button", "acknowledge")]}
    alarm = configs[f"homeassistant/binary_sensor/{node}/alarm/config"]
    assert alarm["default_entity_id"] == "binary_sensor.anklet_home_band_test_alarm"
    assert alarm["state_topic"] == f"{BASE}/alarm" and alarm["expire_after"] == 60
    assert alarm["availability"] == [{"topic": f"{BASE}/availability"}, {"topic": f"{BASE}/band"}]
    assert alarm["availability_mode"] == "all" and alarm["device_class"] == "safety"
    button = configs[f"homeassistant/button/{node}/acknowledge/config"]
    assert button["command_topic"] == f"{BASE}/ack"
    # A clean stop says "offline" (retained), as the Last Will would.
    [avail] = late.on(f"{BASE}/availability")
    assert avail.payload == "offline" and avail.retain
    assert [(h.payload, h.retain) for h in late.on(f"{BASE}/band")] == [("offline", True)]
    # During the night: online, the alarm sensor ON at the ALARM, its events once each.
    assert live.on(f"{BASE}/availability")[0].payload == "online"
    states = [h.json() for h in live.on(f"{BASE}/alarm")]
    assert states[0]["state"] == "OFF"
    on = [s for s in states if s["state"] == "ON"]
    assert on and on[0]["level"] == "alarm" and "PROLONGED RHYTHMIC SHAKING" in on[0]["message"]
    assert on[0]["since"] is not None and on[0]["sounding"]
    assert states[-1]["state"] == "ON"  # the episode is over, the alarm sounds until someone acknowledges it
    events = [h.json() for h in live.on(f"{BASE}/event")]
    types = [e["event_type"] for e in events]
    # Once each (a NOTICE overtaken by its ALARM before it was published is not announced late).
    assert types.count("alarm") == 1 and types.count("notice") <= 1 and set(types) <= {"notice", "alarm"}
    assert all(not h.retain for h in live.on(f"{BASE}/alarm") + live.on(f"{BASE}/event"))
    status = [h.json() for h in live.on(f"{BASE}/status")]
    assert status[-1]["battery"] == 89 and status[-1]["fault"] == "OFF" and status[-1]["watched"]
    # Not every tick: only changes (the night had 70 ticks and one episode).
    assert len(states) < 20
    assert rig.raised("alarm") and not rig.raised(code="output_mqtt")


def test_acknowledge_from_the_broker_reaches_the_monitor_and_says_who(tmp_path, broker):
    got = {}

    async def main():
        async with Listener(broker.port, ("anklet/#",)) as live:
            async def parent(rig):
                await live.wait_for(lambda h: h.topic == f"{BASE}/alarm" and h.json()["state"] == "ON")
                await live.publish(f"{BASE}/ack", json.dumps({"by": "Dad's phone", "mute_s": 600}))
                got["result"] = (await live.wait_for(lambda h: h.topic == f"{BASE}/ack/result")).json()
                got["off"] = await live.wait_for(lambda h: h.topic == f"{BASE}/alarm" and h.json()["acked"])
                got["event"] = await live.wait_for(lambda h: h.topic == f"{BASE}/event"
                                                   and h.json()["event_type"] == "acknowledged")

            # A retained command left on the broker is old news: the monitor gets it when it subscribes, and must
            # not take it as an acknowledgement (of tonight's alarm, after a reconnect).
            await live.publish(f"{BASE}/ack", "ACK", retain=True)
            rig, out = mqtt_rig(tmp_path, broker.port, script=episode_script(10, 300), duration_s=60)
            await rig.run(after=parent, before=connected(out))
            return rig, out

    rig, out = asyncio.run(main())
    assert got["result"] == {"acknowledged": 1, "by": "MQTT (Dad's phone)"}
    assert out.acks == [("MQTT (Dad's phone)", 1)]
    [stored] = [a for a in rig.store.alarms() if a.level == "alarm"]
    assert stored.acked_by == "MQTT (Dad's phone)"
    off = got["off"].json()
    assert off["state"] == "OFF" and off["acked_by"] == "MQTT (Dad's phone)" and not off["sounding"]
    assert "by MQTT (Dad's phone)" in got["event"].json()["message"]
    assert rig.monitor.muted_until == pytest.approx(rig.clock.monotonic() + 600, abs=2)


def test_parse_ack():
    assert parse_ack(b"") == ("", None)
    assert parse_ack(b"ACK") == ("", None)
    assert parse_ack(b"Mum") == ("Mum", None)
    assert parse_ack(b'{"by": "Mum", "mute_s": 900}') == ("Mum", 900.0)
    assert parse_ack(b'{"by": "Mum\\u0007\\n", "mute_s": true}') == ("Mum", None)
    assert parse_ack(b"x" * 5000)[0] == "x" * 60
    assert parse_ack(b"{not json") == ("", None)


def test_the_alarm_sensor_goes_unavailable_when_the_band_is_silent(tmp_path, broker):
    """Home Assistant shows the alarm sensor unavailable (never a quiet OFF): the band's availability topic says
    offline at the no-data FAULT and the alarm topic is no longer refreshed; the fault sensor says why."""

    async def main():
        async with Listener(broker.port, ("anklet/#",)) as live:
            rig, out = mqtt_rig(tmp_path, broker.port, script=(), duration_s=90,
                                settings=Settings(poll_s=0.01, no_data_s=10), status_s=5,
                                actions=[(30, lambda b: b.set_radio(False))])
            await rig.run(before=connected(out))
            await stopped(live)
            return rig, live

    rig, live = asyncio.run(main())
    [fault] = rig.raised(code="no_data")
    band = live.on(f"{BASE}/band")
    assert [h.payload for h in band][:2] == ["online", "offline"]
    offline_at = band[1].at
    alarm = live.on(f"{BASE}/alarm")
    assert alarm and all(h.at < offline_at for h in alarm)  # no refresh after: unavailable in Home Assistant
    status = [h.json() for h in live.on(f"{BASE}/status") if h.at >= offline_at]
    assert status and status[0]["fault"] == "ON" and not status[0]["watched"]
    assert any("no data" in f for f in status[0]["faults"])
    assert any(h.json()["event_type"] == "fault" for h in live.on(f"{BASE}/event"))


def test_the_alarm_is_refreshed_within_expire_after_while_the_band_is_heard(tmp_path, broker, monkeypatch):
    """The alarm topic is sent again every expire_after/3 real seconds, so it never expires while all is well
    (real seconds: Home Assistant times expire_after on its own clock)."""

    async def main():
        async with Listener(broker.port, ("anklet/#",)) as live:
            rig, out = mqtt_rig(tmp_path, broker.port, script=(), duration_s=20)
            out.expire_after_s = 3  # refresh every second (real time)

            async def wait(rig):
                t0 = time.monotonic()
                while time.monotonic() - t0 < 3.5:
                    rig.clock.advance(1)  # ticks: the hub publishes, the output decides whether to send
                    await asyncio.sleep(0.05)

            await rig.run(after=wait, before=connected(out))
            return live

    live = asyncio.run(main())
    alarm = live.on(f"{BASE}/alarm")
    gaps = [b.at - a.at for a, b in zip(alarm, alarm[1:], strict=False)]
    # Sent again although nothing changed (ticks come 20 times a second here: not on every tick, about every 1 s).
    assert len(alarm) >= 3 and len({h.payload for h in alarm}) == 1
    assert min(gaps) >= 0.9


def test_last_will_after_sigkill_of_a_monitor_process(tmp_path, broker):
    env = {**os.environ, "ANKLET_CONFIG": str(tmp_path / "none.toml")}
    cmd = [sys.executable, "-m", "anklet.cli", "demo", "--mqtt", f"127.0.0.1:{broker.port}", "--link", "inproc",
           "--speed", "20", "--hours", "1", "--sound", "report", "--no-notify", "--db", str(tmp_path / "demo.db")]

    async def main():
        async with Listener(broker.port, ("anklet/demo/#",)) as live:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                online = await live.wait_for(lambda h: h.topic.endswith("/availability") and h.payload == "online",
                                             timeout=60)
                await live.wait_for(lambda h: h.topic.endswith("/status"))
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                dead = await live.wait_for(lambda h: h.topic == online.topic and h.payload == "offline", timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
        async with Listener(broker.port, ("anklet/demo/+/availability",)) as late:
            retained = await late.wait_for(lambda h: True)
        return online, dead, retained, proc.stdout.read().decode()

    online, dead, retained, printed = asyncio.run(main())
    assert "MQTT: publishing to 127.0.0.1" in printed
    assert dead.payload == "offline"
    assert retained.topic == online.topic and retained.payload == "offline" and retained.retain


def test_an_unreachable_broker_is_a_fault_that_ends_when_it_answers(tmp_path):
    port = free_port()
    said = []
    late = Broker(tmp_path / "broker", port=port)

    async def main():
        rig = Rig(tmp_path, script=episode_script(10, 300), duration_s=40, settings=Settings(poll_s=0.01))
        out = MqttOutput("127.0.0.1", port, say=said.append)
        rig.monitor.outputs = OutputHub(rig.monitor, [out])

        async def broker_comes_back(rig):
            assert "output_mqtt" in rig.monitor.faults.active
            late.start()
            deadline = time.monotonic() + 30
            while "output_mqtt" in rig.monitor.faults.active and time.monotonic() < deadline:
                rig.clock.advance(1)
                await asyncio.sleep(0.1)

        await rig.run(after=broker_comes_back)
        return rig

    try:
        rig = asyncio.run(main())
    finally:
        late.stop()
    [fault] = rig.raised(code="output_mqtt")
    assert fault.level == "fault" and f"127.0.0.1:{port}" in fault.message
    assert rig.raised("alarm") and rig.raised("alarm")[0].sounded  # the watch and the local alarm went on
    assert "output_mqtt" not in rig.monitor.faults.active
    assert "resolved: output mqtt" in rig.out.getvalue()
    assert "not reached yet" in said[0]


def test_two_bands_on_one_broker(tmp_path, broker):
    async def main():
        async with Listener(broker.port, ("anklet/#", "homeassistant/#")) as live:
            a, out_a = mqtt_rig(tmp_path, broker.port, "a.db", band_name="twin_a",
                                script=episode_script(10, 300), duration_s=60)
            b, out_b = mqtt_rig(tmp_path, broker.port, "b.db", band_name="twin_b", script=(), duration_s=60)

            async def ack_a(rig):
                await live.wait_for(lambda h: h.topic == "anklet/home/twin_a/alarm" and h.json()["state"] == "ON")
                await live.publish("anklet/home/twin_a/ack", json.dumps({"by": "nurse station"}))
                await live.wait_for(lambda h: h.topic == "anklet/home/twin_a/ack/result")

            await asyncio.gather(a.run(after=ack_a, before=connected(out_a)), b.run(before=connected(out_b)))
            await stopped(live, "anklet/home/twin_a")
            await stopped(live, "anklet/home/twin_b")
            return a, b, live

    a, b, live = asyncio.run(main())
    nodes = {h.topic.split("/")[2] for h in live.heard if h.topic.startswith("homeassistant/")}
    assert nodes == {"anklet_home_twin_a", "anklet_home_twin_b"}
    assert any(h.json()["state"] == "ON" for h in live.on("anklet/home/twin_a/alarm"))
    assert all(h.json()["state"] == "OFF" for h in live.on("anklet/home/twin_b/alarm"))
    assert [x.acked_by for x in a.store.alarms() if x.level == "alarm"] == ["MQTT (nurse station)"]
    assert not b.store.alarms() and not b.raised("alarm")
    assert {h.payload for h in live.on("anklet/home/twin_b/availability")} == {"online", "offline"}


def test_settings_build_it_and_anklet_config_hides_the_password(tmp_path, capsys):
    from anklet.cli import main
    from anklet.config import load
    from anklet.outputs.registry import BuildContext, build_outputs

    p = tmp_path / "config.toml"
    p.write_text('[outputs.mqtt]\nenabled = true\nhost = "broker.ward.example"\nport = 8883\ntls = true\n'
                 'username = "monitor-bed-1"\npassword = "s3cret-pass"\nsite = "ward"\nband_name = "bed_1"\n')
    cfg = load(p)
    [out] = build_outputs(cfg, BuildContext(cfg, say=lambda s: None))
    assert isinstance(out, MqttOutput)
    assert (out.host, out.port, out.tls, out.username, out.site, out.band_name) == \
        ("broker.ward.example", 8883, True, "monitor-bed-1", "ward", "bed_1")
    assert main(["config", "--config", str(p)]) == 0
    shown = capsys.readouterr().out
    assert "s3cret-pass" not in shown and "outputs.mqtt.password" in shown and "(set, not shown)" in shown
    p.write_text('[outputs.mqtt]\nsite = "my/ward"\n')
    with pytest.raises(ValueError, match="outputs.mqtt.site"):
        load(p)
    p.write_text('[outputs.mqtt]\nport = 70000\n')
    with pytest.raises(ValueError, match="outputs.mqtt.port"):
        load(p)
