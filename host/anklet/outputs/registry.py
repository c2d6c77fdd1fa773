"""Every kind of alarm output, its settings in config.toml, and how to build it: the one place to add an output.

An output kind declares its keys (under `[outputs.<name>]`; `enabled` is added for every kind) and a `build`
function that makes the output from its checked settings. `anklet config` shows the keys, config.toml sets them,
`anklet monitor` builds the enabled outputs with `build_outputs` and hands them to the monitor.

To add one (MQTT, push, ...): write the output (the contract is in base.py), then add an `OutputKind` to `KINDS`
below with its keys and a `build` that imports the module lazily (an output nobody enabled costs no import).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import Key, boolean, host_port, number, text
from .base import AlarmOutput

if TYPE_CHECKING:
    from ..config import Config


@dataclass
class BuildContext:
    """What an output may need beside its own settings."""

    config: Config
    say: Callable[[str], None] = print  # the terminal: where to open the page, what is being published
    data_dir: str | None = None  # where an output may keep state (the web page's token); None: the default


@dataclass(frozen=True)
class OutputKind:
    name: str
    help: str
    build: Callable[[dict[str, Any], BuildContext], AlarmOutput]
    keys: dict[str, Key] = field(default_factory=dict)  # without the "outputs.<name>." prefix

    def all_keys(self) -> dict[str, Key]:
        keys = {"enabled": Key(False, boolean, f"send alarms to {self.help}")}
        keys.update(self.keys)
        return {f"outputs.{self.name}.{k}": v for k, v in keys.items()}


def _secret(v: Any) -> str:
    v = text(v)
    if v and (len(v) < 16 or not all(c.isalnum() or c in "-_" for c in v)):
        raise ValueError("expected at least 16 letters, digits, - or _ (or empty: made for you)")
    return v


def _build_web(cfg: dict[str, Any], ctx: BuildContext) -> AlarmOutput:
    from .web import WebOutput

    host, port = cfg["listen"]
    return WebOutput(host, port, token=cfg["token"] or None, say=ctx.say, data_dir=ctx.data_dir)


def _port(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
        raise ValueError(f"expected a port number 1-65535, got {v!r}")
    return v


def _name(v: Any) -> str:
    v = text(v)
    if len(v) > 40 or not all(c.isascii() and (c.islower() or c.isdigit() or c == "_") for c in v):
        raise ValueError("expected up to 40 lower-case letters, digits or _ (it names the MQTT topics and the Home "
                         f"Assistant entities), got {v!r}")
    return v


def _prefix(v: Any) -> str:
    v = text(v)
    if not v or any(c in v for c in "+#/ ") or len(v) > 60:
        raise ValueError(f"expected one topic level without + # / or spaces, got {v!r}")
    return v


def _build_mqtt(cfg: dict[str, Any], ctx: BuildContext) -> AlarmOutput:
    from .mqtt import MqttOutput

    return MqttOutput(cfg["host"], cfg["port"], username=cfg["username"], password=cfg["password"], tls=cfg["tls"],
                      ca_file=cfg["ca_file"], site=cfg["site"] or "home", band_name=cfg["band_name"] or None,
                      discovery_prefix=cfg["discovery_prefix"], expire_after_s=cfg["expire_after_s"], say=ctx.say)


def _urls(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v] if v else []
    if not isinstance(v, (list, tuple)) or not all(isinstance(u, str) and "://" in u for u in v):
        raise ValueError("expected a list of Apprise URLs in quotes, for example [\"tgram://BOT_TOKEN/CHAT_ID\"]")
    return tuple(v)


def _ntfy_url(v: Any) -> str:
    v = text(v)
    if v and not v.startswith(("http://", "https://")):
        raise ValueError(f"expected the topic's URL, for example \"https://ntfy.sh/anklet-SECRET\", got {v!r}")
    return v


def _build_push(cfg: dict[str, Any], ctx: BuildContext) -> AlarmOutput:
    from .push import PushOutput

    repeat_s = cfg["repeat_s"] or ctx.config.values.get("alarm.repeat_s", 60.0)
    return PushOutput(cfg["ntfy"], ntfy_token=cfg["ntfy_token"], apprise=cfg["apprise"], repeat_s=repeat_s,
                      ack_url=cfg["ack_url"], say=ctx.say)


KINDS: dict[str, OutputKind] = {
    "web": OutputKind(
        "web", "a page for a bedside phone on the home network (anklet monitor --web)", _build_web,
        {"listen": Key(("0.0.0.0", 8765), host_port, "HOST:PORT the page is served on (0.0.0.0: the whole home network)"),
         "token": Key("", _secret, "the secret in the page's address (empty: made once and kept in the data folder)")}),
    "mqtt": OutputKind(
        "mqtt", "an MQTT broker: Home Assistant (discovery), Node-RED, a ward's dashboard", _build_mqtt,
        {"host": Key("localhost", text, "the broker's host name or address"),
         "port": Key(1883, _port, "the broker's port (1883; 8883 with TLS)"),
         "username": Key("", text, "the login at the broker (one per monitor: the broker's ACL limits its topics)"),
         "password": Key("", text, "its password"),
         "tls": Key(False, boolean, "connect with TLS (the broker's certificate is checked)"),
         "ca_file": Key("", text, "the CA certificate that signed the broker's (empty: the system's)"),
         "site": Key("home", _name, "the first level under anklet/: the home, or the ward"),
         "band_name": Key("", _name, "the band's level in anklet/<site>/<band> (empty: from the band's id)"),
         "discovery_prefix": Key("homeassistant", _prefix, "Home Assistant's discovery prefix"),
         "expire_after_s": Key(60.0, number(10, 3600, "s"),
                               "Home Assistant shows the alarm sensor unavailable after this long without news")}),
    "push": OutputKind(
        "push", "the parents' phones as push notifications (ntfy, Apprise), repeated until acknowledged", _build_push,
        {"ntfy": Key("", _ntfy_url, "an ntfy topic's URL (https://ntfy.sh/<a long secret name>, or your own server)"),
         "ntfy_token": Key("", text, "an ntfy access token (for a protected topic)"),
         "apprise": Key((), _urls, "Apprise URLs (Telegram, Signal, Pushover, SMS, ...; pip install 'anklet[push]')"),
         "repeat_s": Key(0.0, number(0, 3600, "s"), "push again this often until acknowledged (0: alarm.repeat_s)"),
         "ack_url": Key("", text, "the bedside page's address + ack: an Acknowledge button on ntfy pushes (the "
                                  "address, with its secret, then goes through the ntfy server)")}),
}


def output_keys() -> dict[str, Key]:
    out: dict[str, Key] = {}
    for kind in KINDS.values():
        out.update(kind.all_keys())
    return out


def settings_of(config: Config, name: str) -> dict[str, Any]:
    prefix = f"outputs.{name}."
    return {k[len(prefix):]: v for k, v in config.values.items() if k.startswith(prefix)}


def build_outputs(config: Config, ctx: BuildContext | None = None) -> list[AlarmOutput]:
    """The outputs config.toml (and the command line) enabled, built and not yet started."""
    ctx = ctx or BuildContext(config)
    outs = []
    for name, kind in KINDS.items():
        cfg = settings_of(config, name)
        if cfg.get("enabled"):
            outs.append(kind.build(cfg, ctx))
    return outs
