"""Home Assistant (or any MQTT client: Node-RED, a ward's dashboard) over MQTT, with aiomqtt.

Every topic is under `anklet/<site>/<band>/`, so many monitors (twins, a ward) share one broker:

    availability   "online" / "offline", retained; the Last Will says "offline" when the monitor dies (SIGKILL,
                   power cut, host asleep: the broker notices the lost connection or the missed keepalive)
    band           "online" / "offline", retained: whether the band is heard (offline: the no-data FAULT is up)
    alarm          JSON, the alarm sensor: published on a change and every `expire_after_s / 3` s, and only while
                   the band is heard; Home Assistant turns the sensor *unavailable*, never a quiet "off", when it
                   stops (the `band` availability at once, `expire_after` if the monitor hangs)
    status         JSON: faults, battery, wear, link, last acknowledgement (the fault and battery sensors)
    event          JSON {"event_type": notice|alarm|escalation|fault|warning|acknowledged, ...}: each new alarm once
    ack            commands in: "" / "ACK" / {"by": "Mum", "mute_s": 900}; acknowledged through the monitor and
                   recorded as "MQTT (Mum)"; the reply goes to ack/result
    homeassistant/<component>/anklet_<site>_<band>/<entity>/config   discovery, retained (HA creates the entities)

A broker that cannot be reached, refuses the login or stops answering makes `publish` raise OutputError: the
monitor raises a FAULT `output_mqtt` and keeps watching, and the FAULT ends when the broker takes messages again
(the output reconnects on its own, announcing itself again). Timing of refreshes is real time (Home Assistant's
`expire_after` is), the alarm's own times come from the monitor's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import ssl
import time
from collections.abc import Callable
from typing import Any

from ..statusview import clock_text
from .base import BoardState, OutputControl, OutputError

CONNECT_WAIT_S = 8.0  # real seconds start() waits for the first connection (after that: a FAULT until it connects)
SEND_TIMEOUT_S = 5.0
ECHO_WAIT_S = 5.0  # real seconds for the monitor's own "online" to come back through the broker
BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
EVENT_TYPES = ("notice", "alarm", "escalation", "fault", "warning", "acknowledged")
WHO_MAX = 60


def slug(text: str) -> str:
    """A name fit for a topic level and a Home Assistant id: lower case letters, digits and _."""
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return s or "band"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


class MqttOutput:
    name = "mqtt"

    def __init__(self, host: str = "localhost", port: int = 1883, *, username: str | None = None,
                 password: str | None = None, tls: bool = False, ca_file: str | None = None, site: str = "home",
                 band_name: str | None = None, discovery_prefix: str = "homeassistant", expire_after_s: float = 60.0,
                 keepalive_s: int = 15, say: Callable[[str], None] | None = None) -> None:
        self.host = host
        self.port = port
        self.username = username or None
        self.password = password or None
        self.tls = tls
        self.ca_file = ca_file or None
        self.site = slug(site)
        self.band_name = band_name
        self.discovery_prefix = discovery_prefix.strip("/") or "homeassistant"
        self.expire_after_s = expire_after_s
        self.keepalive_s = keepalive_s
        self.say = say or print
        self.control: OutputControl | None = None
        self.band = ""
        self.base = ""
        self.acks: list[tuple[str, int]] = []  # (by, how many) acknowledged through the broker, for the terminal
        self._client: Any = None
        self._error = "not connected to the broker yet"
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._tried = asyncio.Event()  # the first connection attempt is over (either way)
        self._echo = asyncio.Event()
        self._closing = False
        self._sent: dict[str, tuple[str, float]] = {}  # topic -> (payload, real time sent)
        self._seen: set[tuple[str, str]] = set()  # (alarm key, level) already announced as events
        self._seen_ack = ""
        self._fresh = False  # the connection is new: everything is sent again

    # -- topics and discovery -----------------------------------------------------------------------

    def topic(self, leaf: str) -> str:
        return f"{self.base}/{leaf}"

    @property
    def node(self) -> str:
        return f"anklet_{self.site}_{self.band}"

    def discovery(self) -> dict[str, dict[str, Any]]:
        """Discovery topic -> config for each entity Home Assistant should make."""
        monitor = {"topic": self.topic("availability")}
        band = {"topic": self.topic("band")}
        device = {"identifiers": [self.node], "name": f"anklet {self.site} {self.band}", "manufacturer": "anklet",
                  "model": "ankle band night monitor", "sw_version": _version()}
        origin = {"name": "anklet", "sw_version": _version()}

        def entity(component: str, key: str, name: str, avail: list[dict[str, str]], **kw: Any) -> tuple[str, dict]:
            uid = f"{self.node}_{key}"
            cfg = {"name": name, "unique_id": uid,
                   # default_entity_id from Home Assistant 2025.10, object_id before it (both are accepted there)
                   "object_id": uid, "default_entity_id": f"{component}.{uid}",
                   "availability": avail, "availability_mode": "all", "device": device, "origin": origin, **kw}
            return f"{self.discovery_prefix}/{component}/{self.node}/{key}/config", cfg

        items = [
            entity("binary_sensor", "alarm", "Alarm", [monitor, band], device_class="safety",
                   state_topic=self.topic("alarm"), value_template="{{ value_json.state }}",
                   payload_on="ON", payload_off="OFF", expire_after=int(self.expire_after_s),
                   json_attributes_topic=self.topic("alarm"), icon="mdi:baby-face-outline"),
            entity("binary_sensor", "fault", "Fault", [monitor], device_class="problem",
                   state_topic=self.topic("status"), value_template="{{ value_json.fault }}",
                   payload_on="ON", payload_off="OFF", json_attributes_topic=self.topic("status")),
            entity("sensor", "battery", "Band battery", [monitor, band], device_class="battery",
                   unit_of_measurement="%", state_class="measurement", state_topic=self.topic("status"),
                   value_template="{{ value_json.battery }}", entity_category="diagnostic"),
            entity("event", "alarms", "Alarm events", [monitor], state_topic=self.topic("event"),
                   event_types=list(EVENT_TYPES)),
            entity("button", "acknowledge", "Acknowledge", [monitor], command_topic=self.topic("ack"),
                   payload_press=json.dumps({"by": "Home Assistant button"}), icon="mdi:bell-off"),
        ]
        return dict(items)

    # -- the output contract --------------------------------------------------------------------------

    async def start(self, control: OutputControl) -> None:
        try:
            import aiomqtt  # noqa: F401
        except ImportError as exc:
            raise OutputError(f"aiomqtt is not installed ({exc}): pip install aiomqtt") from exc
        self.control = control
        self.band = slug(self.band_name or control.band)
        self.base = f"anklet/{self.site}/{self.band}"
        self._tls_context()  # a missing CA file is refused now, not retried all night
        self._task = asyncio.create_task(self._run())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._tried.wait(), CONNECT_WAIT_S)
        where = f"{self.host}:{self.port}"
        if self._connected.is_set():
            self.say(f"MQTT: publishing to {where} under {self.base}/ (Home Assistant discovery: {self.node})")
        else:
            self.say(f"MQTT: {where} not reached yet ({self._error}); retrying, a FAULT until it answers")

    async def publish(self, state: BoardState) -> None:
        client = self._client
        if client is None or not self._connected.is_set():
            raise OutputError(self._error)
        fresh, self._fresh = self._fresh, False
        try:
            await self._send_state(client, state, fresh)
        except OutputError:
            self._fresh = True
            raise
        except Exception as exc:  # aiomqtt.MqttError, or a timeout waiting for the broker's PUBACK
            self._fresh = True
            raise OutputError(f"broker {self.host}:{self.port}: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        self._closing = True
        client = self._client
        if client is not None:
            # A clean stop is not being watched either: say so, as the Last Will would.
            with contextlib.suppress(Exception):
                await client.publish(self.topic("availability"), "offline", qos=1, retain=True, timeout=2)
                await client.publish(self.topic("band"), "offline", qos=1, retain=True, timeout=2)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    # -- publishing ----------------------------------------------------------------------------------------

    def alarm_payload(self, state: BoardState) -> dict[str, Any]:
        loud = state.loudest
        episodic = [a for a in state.alarms if a.level in ("alarm", "escalation")]
        top = episodic[0] if episodic else None
        return {"state": "ON" if any(not a.acked for a in episodic) else "OFF",
                "level": top.level if top else "", "message": top.message if top else "",
                "since": iso(top.since) if top else None, "acked": bool(top and top.acked),
                "acked_by": top.acked_by if top else None, "episode_id": state.episode_id,
                "sounding": state.sounding, "loudest": loud.message if loud else ""}

    def status_payload(self, state: BoardState) -> dict[str, Any]:
        faults = [a for a in state.alarms if a.level in ("fault", "warning")]
        return {"fault": "ON" if any(a.level == "fault" for a in faults) else "OFF",
                "faults": [f"{a.level.upper()}: {a.message}" + (f" (acknowledged by {a.acked_by})" if a.acked else "")
                           for a in faults],
                "battery": state.battery_pct, "worn": state.worn, "link": state.link, "watched": state.watched,
                "sounding": state.sounding, "muted": bool(state.muted_s), "last_ack": state.last_ack,
                "band": state.band}

    async def _send(self, client: Any, topic: str, payload: str, *, retain: bool = False, force: bool = False,
                    refresh: bool = False) -> None:
        sent = self._sent.get(topic)
        now = time.monotonic()
        due = refresh and sent is not None and now - sent[1] >= max(1.0, self.expire_after_s / 3)
        if not force and not due and sent is not None and sent[0] == payload:
            return
        await client.publish(topic, payload, qos=1, retain=retain, timeout=SEND_TIMEOUT_S)
        self._sent[topic] = (payload, now)

    async def _send_state(self, client: Any, state: BoardState, fresh: bool) -> None:
        band = "online" if state.watched else "offline"
        await self._send(client, self.topic("band"), band, retain=True, force=fresh)
        if state.watched:  # silent band: no refresh, so Home Assistant shows the alarm sensor unavailable
            await self._send(client, self.topic("alarm"), json.dumps(self.alarm_payload(state)), force=fresh,
                             refresh=True)
        await self._send(client, self.topic("status"), json.dumps(self.status_payload(state)), force=fresh,
                         refresh=True)
        now_keys = {(a.key, a.level) for a in state.alarms if not a.acked}
        for a in state.alarms:
            if (a.key, a.level) in now_keys - self._seen:
                await self._event(client, a.level if a.level in EVENT_TYPES else "fault", message=a.message,
                                  code=a.code, at=iso(a.since), time=clock_text(a.since))
                self._seen.add((a.key, a.level))
        self._seen &= {(a.key, a.level) for a in state.alarms}  # a fault that ends and comes back is new again
        if state.last_ack and state.last_ack != self._seen_ack:
            await self._event(client, "acknowledged", message=f"acknowledged at {state.last_ack}")
            self._seen_ack = state.last_ack

    async def _event(self, client: Any, event_type: str, **fields: Any) -> None:
        await client.publish(self.topic("event"), json.dumps({"event_type": event_type, **fields}), qos=1,
                             timeout=SEND_TIMEOUT_S)

    # -- the connection -------------------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        if self.ca_file and not os.path.isfile(self.ca_file):
            raise OutputError(f"outputs.mqtt.ca_file {self.ca_file}: no such file")
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise OutputError(f"outputs.mqtt.ca_file {self.ca_file}: {exc}") from exc

    async def _run(self) -> None:
        import aiomqtt

        failures = 0
        while not self._closing:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, username=self.username, password=self.password,
                    identifier=f"anklet-{self.site}-{self.band}-{secrets.token_hex(3)}",  # unique: no takeovers
                    will=aiomqtt.Will(self.topic("availability"), "offline", qos=1, retain=True),
                    keepalive=self.keepalive_s, timeout=SEND_TIMEOUT_S, tls_context=self._tls_context(),
                ) as client:
                    for leaf in ("ack", "availability"):
                        granted = await client.subscribe(self.topic(leaf), qos=1)
                        if any(_refused(g) for g in (granted or ())):
                            raise OutputError(f"the broker refused this monitor's subscription to {self.topic(leaf)} "
                                              f"(its ACL must let it read {self.base}/#): acknowledging from Home "
                                              "Assistant would not reach it")
                    self._echo = asyncio.Event()
                    reader = asyncio.create_task(self._read(client))
                    try:
                        for topic, cfg in self.discovery().items():
                            await client.publish(topic, json.dumps(cfg), qos=1, retain=True)
                        await client.publish(self.topic("availability"), "online", qos=1, retain=True)
                        try:
                            # Our own "online" must come back: a broker that takes the login but whose ACL drops
                            # this monitor's messages would otherwise swallow every alarm without a word.
                            await asyncio.wait_for(self._echo.wait(), ECHO_WAIT_S)
                        except asyncio.TimeoutError:
                            raise OutputError(
                                f"the broker took the login{' ' + self.username if self.username else ''} but does "
                                f"not pass this monitor's messages (its ACL must let it read and write "
                                f"{self.base}/# and write {self.discovery_prefix}/+/{self.node}/#)") from None
                        self._client, self._fresh, failures = client, True, 0
                        self._connected.set()
                        self._tried.set()
                        await reader  # until the connection ends (MqttError)
                    finally:
                        reader.cancel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # aiomqtt.MqttError (refused, unreachable, lost), or OutputError above
                self._error = f"broker {self.host}:{self.port}: {exc}"
                self._tried.set()
            finally:
                self._client = None
                self._connected.clear()
            if self._closing:
                return
            await asyncio.sleep(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
            failures += 1

    async def _read(self, client: Any) -> None:
        async for msg in client.messages:
            if str(msg.topic) == self.topic("availability"):
                if msg.payload in (b"online", "online"):
                    self._echo.set()
                continue
            await self._command(client, msg)

    async def _command(self, client: Any, msg: Any) -> None:
        if str(msg.topic) != self.topic("ack") or msg.retain or self.control is None:
            return  # a retained command is an old one: never acknowledge tonight's alarm with it
        who, mute_s = parse_ack(msg.payload)
        by = f"MQTT ({who})" if who else "MQTT"
        n = self.control.acknowledge(by, mute_s)
        self.acks.append((by, n))
        with contextlib.suppress(Exception):
            await client.publish(self.topic("ack/result"), json.dumps({"acknowledged": n, "by": by}), qos=1,
                                 timeout=SEND_TIMEOUT_S)


def _refused(granted: Any) -> bool:
    """A SUBACK entry that says no (0x80 and up), as an int or paho's ReasonCode."""
    value = getattr(granted, "value", granted)
    return isinstance(value, int) and value >= 0x80


def parse_ack(payload: Any) -> tuple[str, float | None]:
    """(who, mute seconds) from an acknowledge command: "", "ACK", "Mum", or {"by": "Mum", "mute_s": 900}."""
    if isinstance(payload, (bytes, bytearray)):
        text = bytes(payload[:1024]).decode("utf-8", "replace")
    else:
        text = "" if payload is None else str(payload)[:1024]
    text = text.strip()
    who: Any = text
    mute_s: float | None = None
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            obj = {}
        obj = obj if isinstance(obj, dict) else {}
        who = obj.get("by", "")
        m = obj.get("mute_s")
        if isinstance(m, (int, float)) and not isinstance(m, bool):
            mute_s = float(m)  # the monitor checks its range (and says so if it uses the default instead)
    who = "".join(c for c in str(who) if c.isprintable()).strip()[:WHO_MAX]
    if who.upper() in ("ACK", "PRESS", "ON"):
        who = ""
    return who, mute_s


def _version() -> str:
    from .. import __version__

    return str(__version__)
