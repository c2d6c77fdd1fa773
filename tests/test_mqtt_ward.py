"""A ward's broker, as docs/many-bands.md sets it up: TLS with the ward's own CA, a login per monitor, and an ACL
that lets each monitor write only its own band's topics while the nurse station reads them all. Against a real
mosquitto on loopback, with certificates made by openssl."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time

import pytest
from broker import Broker, Listener
from test_monitor_helpers import Rig, episode_script

from anklet.monitor import Settings
from anklet.outputs.hub import OutputHub
from anklet.outputs.mqtt import MqttOutput

ACL = """\
# each monitor: its own band's topics, and its own Home Assistant discovery
user monitor-bed-1
topic readwrite anklet/ward/bed_1/#
topic write homeassistant/+/anklet_ward_bed_1/#

user monitor-bed-2
topic readwrite anklet/ward/bed_2/#
topic write homeassistant/+/anklet_ward_bed_2/#

# the nurse station (Home Assistant, Node-RED): reads everything, acknowledges any band
user nurse-station
topic read anklet/#
topic write anklet/+/+/ack
topic read homeassistant/#
"""
USERS = {"monitor-bed-1": "pw-bed-1-secret", "monitor-bed-2": "pw-bed-2-secret", "nurse-station": "pw-station"}


def _run(*cmd, cwd=None):
    subprocess.run(cmd, check=True, cwd=cwd, capture_output=True)


@pytest.fixture
def ward(tmp_path):
    for tool in ("openssl", "mosquitto_passwd"):
        if shutil.which(tool, path="/usr/bin:/bin:/usr/sbin:/usr/local/bin") is None:
            pytest.skip(f"{tool} is not installed (make sysdeps installs mosquitto; openssl comes with Debian)")
    d = tmp_path / "pki"
    d.mkdir()
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=anklet ward CA",
         "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
         "-out", "server.csr", cwd=d)
    (d / "san.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "2", "-extfile", "san.cnf", "-out", "server.crt", cwd=d)
    pw = d / "passwords"
    pw.write_text("")
    for user, password in USERS.items():
        _run("mosquitto_passwd", "-b", str(pw), user, password)
    (d / "acl").write_text(ACL)
    b = Broker(tmp_path / "broker", anonymous=False,
               extra=f"cafile {d / 'ca.crt'}\ncertfile {d / 'server.crt'}\nkeyfile {d / 'server.key'}\n"
                     f"password_file {pw}\nacl_file {d / 'acl'}\n").start()
    yield b, d
    b.stop()


def station(port, ca):
    ctx = ssl.create_default_context(cafile=str(ca))
    return Listener(port, ("anklet/#", "homeassistant/#"), username="nurse-station", password=USERS["nurse-station"],
                    tls_context=ctx)


def bed(tmp_path, port, ca, name, user, password, **kw):
    rig = Rig(tmp_path, db_name=f"{name}.db", **kw)
    out = MqttOutput("127.0.0.1", port, username=user, password=password, tls=True, ca_file=str(ca), site="ward",
                     band_name=name, say=lambda s: None)
    rig.monitor.outputs = OutputHub(rig.monitor, [out])
    return rig, out


async def _connected(rig, out):
    deadline = time.monotonic() + 10
    while not out._tried.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def test_two_beds_over_tls_each_writing_only_its_own_topics(tmp_path, ward):
    broker, pki = ward
    ca = pki / "ca.crt"

    async def main():
        async with station(broker.port, ca) as st:
            one, out1 = bed(tmp_path, broker.port, ca, "bed_1", "monitor-bed-1", USERS["monitor-bed-1"],
                            script=episode_script(10, 300), duration_s=50)
            # A monitor set up as bed 2 but logged in as bed 1: the broker lets none of it through.
            two, out2 = bed(tmp_path, broker.port, ca, "bed_2", "monitor-bed-1", USERS["monitor-bed-1"],
                            script=(), duration_s=50)

            async def nurse_acks(rig):
                await st.wait_for(lambda h: h.topic == "anklet/ward/bed_1/alarm" and h.json()["state"] == "ON")
                await st.publish("anklet/ward/bed_1/ack", '{"by": "nurse Ana"}')
                await st.wait_for(lambda h: h.topic == "anklet/ward/bed_1/ack/result")

            await asyncio.gather(one.run(before=lambda r: _connected(r, out1), after=nurse_acks),
                                 two.run(before=lambda r: _connected(r, out2)))
            await st.wait_for(lambda h: h.topic == "anklet/ward/bed_1/availability" and h.payload == "offline")
            await asyncio.sleep(0.3)
            return one, two, st

    one, two, st = asyncio.run(main())
    topics = {h.topic for h in st.heard}
    assert "homeassistant/binary_sensor/anklet_ward_bed_1/alarm/config" in topics
    assert not any("bed_2" in t for t in topics)  # the ACL kept the wrong login out of bed 2's topics
    # ... and that monitor says so: a FAULT, not alarms swallowed without a word.
    [fault] = two.raised(code="output_mqtt")
    assert "monitor-bed-1" in fault.message and "ACL" in fault.message and "anklet/ward/bed_2/#" in fault.message
    assert not one.raised(code="output_mqtt")
    assert [a.acked_by for a in one.store.alarms() if a.level == "alarm"] == ["MQTT (nurse Ana)"]


def test_a_wrong_password_or_an_unknown_ca_is_a_fault(tmp_path, ward):
    broker, pki = ward

    async def night(**kw):
        rig = Rig(tmp_path, db_name=f"{kw['username']}-{kw['tls']}.db", script=episode_script(10, 60), duration_s=45,
                  settings=Settings(poll_s=0.01))
        out = MqttOutput("127.0.0.1", broker.port, site="ward", band_name="bed_1", say=lambda s: None, **kw)
        rig.monitor.outputs = OutputHub(rig.monitor, [out])
        await rig.run()
        return rig

    wrong = asyncio.run(night(username="monitor-bed-1", password="guess", tls=True, ca_file=str(pki / "ca.crt")))
    [fault] = wrong.raised(code="output_mqtt")
    assert "not authori" in fault.message.lower() or "bad user name or password" in fault.message.lower()
    assert wrong.raised("alarm")  # the watch went on, with its local alarm
    # The system's CAs do not know the ward's own CA: the broker's certificate is refused, not trusted blindly.
    untrusted = asyncio.run(night(username="monitor-bed-1", password=USERS["monitor-bed-1"], tls=True, ca_file=None))
    [fault] = untrusted.raised(code="output_mqtt")
    assert "certificate" in fault.message.lower()
