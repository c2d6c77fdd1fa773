"""Settings: built-in defaults, then config.toml, then the command line; each value knows where it came from.

The file is `config.toml` in the user's config folder (platformdirs: ~/.config/anklet on Linux,
~/Library/Application Support/anklet on macOS, %LOCALAPPDATA%\\anklet on Windows), or $ANKLET_CONFIG, or
`--config PATH`. A missing file means the defaults. Every value is checked; a bad one is refused with a message
naming the key (and the file), never replaced silently by a default. A running monitor re-reads the file when it
changes (`ConfigWatcher`): a bad file is reported and the previous settings are kept.

    band = "anklet-1a2b"          # address or name (default: the paired band)
    [alarm]
    alarm_s = 20                  # ALARM after this many seconds of rhythmic shaking (10-120)
    repeat_s = 10                 # an unacknowledged alarm sounds (and pushes) again this often
    [outputs.web]
    enabled = true
    listen = "0.0.0.0:8765"
"""

from __future__ import annotations

import asyncio
import difflib
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT = "default"
COMMAND_LINE = "command line"


class ConfigError(ValueError):
    """A setting is refused; the message names the key and what it accepts."""


# -- checks: each takes the raw value and returns the clean one, or raises ValueError saying what is accepted ----


def number(lo: float, hi: float, unit: str = "") -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"expected a number{' of ' + unit if unit else ''}, got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"{v} is not a finite number: it must be {lo:g} to {hi:g}{' ' + unit if unit else ''}")
        if not lo <= v <= hi:
            raise ValueError(f"{v:g} is out of range: it must be {lo:g} to {hi:g}{' ' + unit if unit else ''}")
        return float(v)

    return check


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


def text(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string in quotes, got {v!r}")
    return v


def optional_text(v: Any) -> str | None:
    return None if v in (None, "") else text(v)


def choice(*options: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {v!r}")
        return str(v)

    return check


def host_port(v: Any) -> tuple[str, int]:
    """"HOST:PORT", ":PORT" or "PORT" (all interfaces); a tuple passes through (the defaults)."""
    if isinstance(v, tuple):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        raise ValueError(f"expected \"HOST:PORT\" (for example \"0.0.0.0:8765\"), got {v!r}")
    host, sep, port = v.rpartition(":")
    if not sep:
        host, port = "", v
    host = host.strip("[]") or "0.0.0.0"
    if not port.isdigit() or not 0 <= int(port) <= 65535:  # 0: any free port (the address printed says which)
        raise ValueError(f"expected \"HOST:PORT\" with a port 1-65535 (for example \"0.0.0.0:8765\"), got {v!r}")
    return host, int(port)


@dataclass(frozen=True)
class Key:
    default: Any
    check: Callable[[Any], Any]
    help: str


def show(v: Any) -> str:
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], int):
        return f"{v[0]}:{v[1]}"
    if isinstance(v, tuple):
        return ", ".join(map(str, v)) if v else "(none)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "(none)"
    if isinstance(v, float) and v == int(v):
        return f"{v:g}"
    return str(v)


# The monitor's own keys; the outputs add theirs (anklet.outputs.registry). The ranges are the monitor's
# (anklet.monitor.SETTING_RANGES, check_alarm_s); tests/test_config.py holds them equal.
BASE_KEYS: dict[str, Key] = {
    "band": Key(None, optional_text, "band address or name (default: the paired band)"),
    "alarm.alarm_s": Key(20.0, number(10, 120, "s"), "ALARM after this many seconds of rhythmic shaking"),
    "alarm.no_data_s": Key(30.0, number(1, 600, "s"), "FAULT when nothing arrives from the band for longer"),
    "alarm.mute_min": Key(5.0, number(0, 60, "min"), "acknowledging mutes for this many minutes"),
    "alarm.repeat_s": Key(10.0, number(1, 300, "s"), "an unacknowledged alarm sounds (and pushes) again this often"),
    "alarm.sound": Key("auto", choice("auto", "bell", "report"), "auto: the alarm sound; bell; report: print only"),
    "alarm.notify": Key(True, boolean, "desktop notifications"),
}
# Settings shown as "(set, not shown)" by `anklet config`: they hold a password or work as one.
SECRET_SUFFIXES = (".token", "_token", ".password", ".ntfy", ".apprise", ".ack_url")
# Settings a running monitor takes over from a changed file; the others need a restart.
LIVE_KEYS = ("alarm.alarm_s", "alarm.no_data_s", "alarm.mute_min", "alarm.repeat_s")


def all_keys() -> dict[str, Key]:
    from .outputs.registry import output_keys

    return {**BASE_KEYS, **output_keys()}


def default_path() -> Path:
    env = os.environ.get("ANKLET_CONFIG")
    if env:
        return Path(env)
    from platformdirs import user_config_path

    return user_config_path("anklet", appauthor=False) / "config.toml"


def data_dir() -> Path:
    """Where anklet keeps its own state (the log, the web page's token)."""
    db = os.environ.get("ANKLET_DB")
    if db:
        return Path(db).parent
    from platformdirs import user_data_path

    return user_data_path("anklet", appauthor=False)


@dataclass
class Config:
    path: Path
    values: dict[str, Any]
    sources: dict[str, str]  # key -> "default" | "<file>" | "command line"
    file_found: bool = False
    mtime: float | None = None
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def rows(self) -> list[tuple[str, str, str]]:
        return [(k, show(v), self.sources[k]) for k, v in self.values.items()]


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _where(path: Path) -> str:
    return str(path)


def read_file(path: Path, keys: dict[str, Key]) -> tuple[dict[str, Any], float | None]:
    """The checked settings in the file ({} when there is no file) and its mtime; ConfigError when it is bad."""
    try:
        st = path.stat()
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    out = {}
    for key, value in _flatten(table).items():
        if key not in keys:
            close = difflib.get_close_matches(key, list(keys), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{path}: unknown setting {key}{hint}; `anklet config` lists them all")
        try:
            out[key] = keys[key].check(value)
        except ValueError as exc:
            raise ConfigError(f"{path}: {key}: {exc}") from None
    return out, st.st_mtime


def load(path: Path | str | None = None, cli: dict[str, Any] | None = None) -> Config:
    """Defaults, then the file, then the command line (values that are not None). ConfigError names the bad key."""
    keys = all_keys()
    p = Path(path) if path is not None else default_path()
    from_file, mtime = read_file(p, keys)
    values = {k: key.default for k, key in keys.items()}
    sources = dict.fromkeys(keys, DEFAULT)
    for k, v in from_file.items():
        values[k], sources[k] = v, _where(p)
    for k, v in (cli or {}).items():
        if v is None:
            continue
        if k not in keys:
            raise ConfigError(f"unknown setting {k}")
        try:
            values[k] = keys[k].check(v)
        except ValueError as exc:
            raise ConfigError(f"{k} (command line): {exc}") from None
        sources[k] = COMMAND_LINE
    return Config(p, values, sources, file_found=mtime is not None, mtime=mtime)


def monitor_settings(cfg: Config, base: Any = None) -> Any:
    """The monitor's Settings from the config (keeping base's other fields)."""
    from dataclasses import replace

    from .monitor import Settings

    base = base or Settings()
    return replace(base, alarm_s=cfg["alarm.alarm_s"], no_data_s=cfg["alarm.no_data_s"],
                   mute_s=cfg["alarm.mute_min"] * 60, repeat_s=cfg["alarm.repeat_s"])


def apply_live(mon: Any, cfg: Config) -> None:
    """Take over the settings a running monitor can change without a restart."""
    from .alarm import AlarmRule

    s = monitor_settings(cfg, mon.s)
    mon.s.alarm_s, mon.s.no_data_s, mon.s.mute_s, mon.s.repeat_s = s.alarm_s, s.no_data_s, s.mute_s, s.repeat_s
    mon.rule.thresholds_ms = AlarmRule(s.alarm_s).thresholds_ms  # the open episode keeps its raised levels
    mon.faults.no_data_s = s.no_data_s


class ConfigWatcher:
    """Re-reads config.toml when it changes, while the monitor runs; a bad file keeps the previous settings."""

    def __init__(self, cfg: Config, cli: dict[str, Any], every_s: float = 2.0) -> None:
        self.cfg = cfg
        self.cli = cli
        self.every_s = every_s
        self._seen = cfg.mtime
        self.refused: str | None = None
        self.on_change: Callable[[Config, list[str]], None] = lambda cfg, live: None
        self.say: Callable[[str, str], None] = lambda text, kind: print(text)

    def outputs(self, say: Callable[[str], None] | None = None) -> list[Any]:
        """The alarm outputs the settings enable (anklet.outputs.registry), built, not started."""
        from .outputs.registry import BuildContext, build_outputs

        def to_terminal(text: str) -> None:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

        return build_outputs(self.cfg, BuildContext(self.cfg, say=say or to_terminal))

    def follow(self, mon: Any) -> None:
        """Apply changes to this running monitor, and tell its terminal."""
        self.on_change = lambda cfg, live: apply_live(mon, cfg)
        self.say = lambda text, kind: mon.view.line(mon.clock.now(), text, kind)

    def check(self) -> bool:
        """Look at the file once; True when new settings were taken over."""
        try:
            mtime: float | None = self.cfg.path.stat().st_mtime
        except OSError:
            mtime = None
        if mtime == self._seen:
            return False
        self._seen = mtime
        try:
            new = load(self.cfg.path, self.cli)
        except ConfigError as exc:
            self.refused = str(exc)
            self.say(f"config refused: {exc}; the monitor keeps its previous settings", "warning")
            return False
        self.refused = None
        changed = [k for k in new.values if new.values[k] != self.cfg.values.get(k)]
        old, self.cfg = self.cfg, new
        live = [k for k in changed if k in LIVE_KEYS]
        later = [k for k in changed if k not in LIVE_KEYS]
        if live:
            self.say("config changed: " + ", ".join(f"{k} {show(old.values.get(k))} -> {show(new.values[k])}"
                                                    for k in live), "info")
        if later:
            self.say(f"config changed: {', '.join(later)} take effect when anklet monitor is restarted", "warning")
        self.on_change(new, live)
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            self.check()


def cli_values(args: Any) -> dict[str, Any]:
    """The settings `anklet monitor`'s options give (None: not given)."""
    web = getattr(args, "web", None)
    return {
        "band": getattr(args, "band", None),
        "alarm.alarm_s": getattr(args, "alarm_s", None),
        "alarm.no_data_s": getattr(args, "no_data_s", None),
        "alarm.mute_min": getattr(args, "mute_min", None),
        "alarm.repeat_s": getattr(args, "repeat_s", None),
        "alarm.sound": getattr(args, "sound", None),
        "alarm.notify": False if getattr(args, "no_notify", False) else None,
        "outputs.web.enabled": True if web is not None else None,
        "outputs.web.listen": web or None,
    }


def monitor_config(args: Any) -> tuple[Config, Any, ConfigWatcher]:
    """`anklet monitor`'s settings: (config, the monitor's Settings, a watcher for changes); CliError if bad."""
    from .cli import CliError

    cli = cli_values(args)
    try:
        cfg = load(getattr(args, "config", None), cli)
        settings = monitor_settings(cfg)
    except ValueError as exc:  # ConfigError, or a combination Settings refuses
        raise CliError(str(exc)) from exc
    return cfg, settings, ConfigWatcher(cfg, cli)


# -- `anklet config` ---------------------------------------------------------------------------------------


def add_setting_args(p: Any) -> None:
    """The options that override config.toml (`anklet monitor` and `anklet config` take the same)."""
    p.add_argument("--config", help="the settings file (default: $ANKLET_CONFIG or the user's config folder)")
    p.add_argument("--band", help="band address or name (default: the paired band)")
    p.add_argument("--alarm-s", type=float, help="ALARM after this many seconds of rhythm (10-120, default 20)")
    p.add_argument("--mute-min", type=float, help="acknowledging mutes for this many minutes (default 5)")
    p.add_argument("--no-data-s", type=float, help="FAULT when nothing arrives for longer (default 30)")
    p.add_argument("--repeat-s", type=float, help="an unacknowledged alarm sounds again this often (default 10)")
    p.add_argument("--sound", choices=("auto", "bell", "report"),
                   help="auto: play the alarm sound (terminal bell if impossible); bell; report: print only")
    p.add_argument("--no-notify", action="store_true", help="no desktop notifications")
    p.add_argument("--web", nargs="?", const="", metavar="HOST:PORT",
                   help="serve the bedside page for a phone (address from config.toml, else 0.0.0.0:8765)")


def register(sub: Any) -> None:
    p = sub.add_parser("config", help="show the effective settings and where each comes from",
                       description="Show every setting anklet monitor would use, and where it comes from: the "
                                   "built-in default, config.toml, or the command line (the same options as "
                                   "anklet monitor). A bad value is an error naming the key.")
    add_setting_args(p)
    p.add_argument("--path", action="store_true", help="print only where the settings file is")
    p.set_defaults(func=_cmd)


def _cmd(args: Any) -> int:
    from .cli import CliError

    path = Path(args.config) if args.config else default_path()
    if args.path:
        print(path)
        return 0
    try:
        cfg = load(path, cli_values(args))
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    print(f"settings file: {path}" + ("" if cfg.file_found else " (not there: built-in defaults)"))
    rows = cfg.rows()
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows) + 2
    keys = all_keys()
    for k, v, src in rows:
        if k.endswith(SECRET_SUFFIXES) and cfg.values[k]:
            v = "(set, not shown)".ljust(w1)
        print(f"  {k:<{w0}}  {v:<{w1}}  {'[' + src + ']':<{w2}}  {keys[k].help}")
    return 0
