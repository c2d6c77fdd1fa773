"""docs/ha-blueprint.yaml: valid YAML for Home Assistant (its !input tags), every input it uses declared, and its
defaults, device classes and attributes exactly what anklet's MQTT discovery and payloads publish."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from anklet.outputs.base import AlarmItem, BoardState
from anklet.outputs.mqtt import MqttOutput

yaml = pytest.importorskip("yaml", reason="PyYAML is in the dev extra (make test installs it)")

BLUEPRINT = Path(__file__).resolve().parent.parent / "docs" / "ha-blueprint.yaml"


class Input(str):
    pass


def load():
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!input", lambda loader, node: Input(loader.construct_scalar(node)))
    return yaml.load(BLUEPRINT.read_text(), Loader=Loader)


def walk(x):
    yield x
    if isinstance(x, dict):
        for v in x.values():
            yield from walk(v)
    elif isinstance(x, list):
        for v in x:
            yield from walk(v)


def published(site="home", band="baby"):
    out = MqttOutput(site=site, band_name=band)
    out.band, out.base = band, f"anklet/{site}/{band}"
    return {cfg["unique_id"].rsplit("_", 1)[-1]: cfg for cfg in out.discovery().values()}, out


def test_the_blueprint_parses_and_uses_only_declared_inputs():
    bp = load()
    meta = bp["blueprint"]
    assert meta["domain"] == "automation" and bp["mode"] == "parallel"
    declared = set(meta["input"])
    used = {x for x in walk(bp) if isinstance(x, Input)}
    assert used == declared  # each declared input used, nothing undeclared
    for name, spec in meta["input"].items():
        assert "selector" in spec and "name" in spec, name
    # The second parent after 60 s by default.
    assert meta["input"]["second_after"]["default"] == 60


def test_the_blueprint_names_what_discovery_publishes():
    bp = load()
    inputs = bp["blueprint"]["input"]
    entities, out = published()
    alarm, fault, ack = entities["alarm"], entities["fault"], entities["acknowledge"]
    assert inputs["alarm_sensor"]["default"] == alarm["default_entity_id"] == "binary_sensor.anklet_home_baby_alarm"
    assert inputs["fault_sensor"]["default"] == fault["default_entity_id"]
    assert inputs["ack_topic"]["default"] == ack["command_topic"]
    assert inputs["alarm_sensor"]["selector"]["entity"]["filter"][0]["device_class"] == alarm["device_class"]
    assert inputs["fault_sensor"]["selector"]["entity"]["filter"][0]["device_class"] == fault["device_class"]
    header = BLUEPRINT.read_text().split("\nblueprint:")[0]
    for cfg in entities.values():
        assert cfg["default_entity_id"] in header  # the comment lists every entity discovery makes
    # "Not being watched": the alarm sensor going unavailable is a trigger (its availability is the band's too).
    triggers = bp["triggers"]
    assert any(t.get("to") == "unavailable" and t["entity_id"] == "alarm_sensor" for t in triggers)
    assert {"topic": "anklet/home/baby/band"} in alarm["availability"] and alarm["expire_after"] > 0


def test_the_attributes_the_blueprint_reads_are_in_the_payloads():
    text = BLUEPRINT.read_text()
    read = set(re.findall(r"state_attr\(entity, '(\w+)'\)", text))
    assert read == {"message", "faults", "sounding"}
    _, out = published()
    item = AlarmItem("episode:1:1", "alarm", "alarm", "PROLONGED RHYTHMIC SHAKING", 1.0, True)
    state = BoardState(now=2.0, band="b", link="connected", silent_s=0.0, battery_pct=80, worn=True, activity="",
                       episode="", alarms=(item,))
    alarm, status = out.alarm_payload(state), out.status_payload(state)
    assert {"message", "sounding"} <= set(alarm) and {"faults", "sounding"} <= set(status)
    assert alarm["sounding"] and alarm["state"] == "ON" and status["fault"] == "OFF"
    # The acknowledge action publishes JSON with "by", which anklet records as "MQTT (<by>)".
    assert "{'by': 'Home Assistant, '" in text
