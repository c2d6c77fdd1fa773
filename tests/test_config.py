"""config.toml: defaults, file, command line (each value says where it came from); bad values refused naming the
key; a running monitor takes over a good change and keeps its settings when the file turns bad."""

from __future__ import annotations

import asyncio
import os

import pytest
from test_monitor_helpers import Rig, episode_script

from anklet import config
from anklet.cli import main
from anklet.config import ConfigError, ConfigWatcher, load


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("ANKLET_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a change the watcher must see


def test_the_file_is_in_the_platform_config_folder(home):
    assert config.default_path() == home / "xdg" / "anklet" / "config.toml"


def test_defaults_then_file_then_command_line(home):
    path = config.default_path()
    write(path, 'band = "anklet-1a2b"\n[alarm]\nalarm_s = 30\nrepeat_s = 20\n[outputs.web]\nenabled = true\n'
                'listen = "127.0.0.1:9000"\n')
    cfg = load(cli={"alarm.repeat_s": 15, "alarm.mute_min": None})
    assert cfg["band"] == "anklet-1a2b" and cfg.sources["band"] == str(path)
    assert cfg["alarm.alarm_s"] == 30 and cfg.sources["alarm.alarm_s"] == str(path)
    assert cfg["alarm.repeat_s"] == 15 and cfg.sources["alarm.repeat_s"] == "command line"
    assert cfg["alarm.mute_min"] == 5 and cfg.sources["alarm.mute_min"] == "default"
    assert cfg["outputs.web.listen"] == ("127.0.0.1", 9000) and cfg["outputs.web.enabled"] is True
    s = config.monitor_settings(cfg)
    assert (s.alarm_s, s.repeat_s, s.mute_s) == (30, 15, 300)


@pytest.mark.parametrize("text, key, says", [
    ("[alarm]\nalarm_s = 200\n", "alarm.alarm_s", "out of range: it must be 10 to 120 s"),
    ("[alarm]\nalarm_s = \"20\"\n", "alarm.alarm_s", "expected a number"),
    ("[alarm]\nrepeat_s = 0\n", "alarm.repeat_s", "out of range"),
    ("[alarm]\nsound = \"loud\"\n", "alarm.sound", "expected one of auto, bell, report"),
    ("[outputs.web]\nlisten = \"0.0.0.0:99999\"\n", "outputs.web.listen", "port 1-65535"),
    ("[outputs.web]\nenabled = \"yes\"\n", "outputs.web.enabled", "expected true or false"),
    ("[alarm]\nalarm_sec = 20\n", "alarm.alarm_sec", "did you mean alarm.alarm_s?"),
    ("[outputs.pager]\nenabled = true\n", "outputs.pager.enabled", "unknown setting"),
])
def test_a_bad_value_is_refused_naming_the_key(home, text, key, says):
    write(config.default_path(), text)
    with pytest.raises(ConfigError) as err:
        load()
    assert key in str(err.value) and says in str(err.value) and "config.toml" in str(err.value)


def test_not_toml_is_refused_with_the_line(home):
    write(config.default_path(), "[alarm\nalarm_s = 20\n")
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 1"):
        load()


def test_anklet_config_shows_each_value_and_where_it_came_from(home, capsys):
    path = config.default_path()
    write(path, "[alarm]\nalarm_s = 45\n[outputs.web]\ntoken = \"a-secret-token-of-the-house\"\n")
    assert main(["config", "--repeat-s", "30", "--web"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert out.startswith(f"settings file: {path}\n")
    assert "45" in lines["alarm.alarm_s"] and f"[{path}]" in lines["alarm.alarm_s"]
    assert "30" in lines["alarm.repeat_s"] and "[command line]" in lines["alarm.repeat_s"]
    assert "5" in lines["alarm.mute_min"] and "[default]" in lines["alarm.mute_min"]
    assert "true" in lines["outputs.web.enabled"] and "[command line]" in lines["outputs.web.enabled"]
    assert "a-secret" not in out and "(set, not shown)" in lines["outputs.web.token"]
    assert main(["config", "--alarm-s", "300"]) == 2
    assert "alarm.alarm_s (command line): 300 is out of range" in capsys.readouterr().err


def test_a_running_monitor_takes_a_good_change_and_keeps_its_settings_on_a_bad_one(home):
    path = config.default_path()
    write(path, "[alarm]\nalarm_s = 20\n")
    cfg = load()
    rig = Rig(home, script=episode_script(10, 40), duration_s=80, settings=config.monitor_settings(cfg))
    watcher = ConfigWatcher(cfg, {})
    watcher.follow(rig.monitor)
    assert not watcher.check()  # unchanged
    write(path, "[alarm]\nalarm_s = 60\nrepeat_s = 5\n[outputs.web]\nenabled = true\n")
    assert watcher.check()
    assert rig.monitor.s.alarm_s == 60 and rig.monitor.s.repeat_s == 5
    write(path, "[alarm]\nalarm_s = 2\n")
    assert not watcher.check()
    out = rig.out.getvalue()
    assert "config changed: alarm.alarm_s 20 -> 60, alarm.repeat_s 10 -> 5" in out
    assert "outputs.web.enabled take effect when anklet monitor is restarted" in out
    assert "config refused:" in out and "alarm.alarm_s: 2 is out of range" in out
    assert "keeps its previous settings" in out
    assert rig.monitor.s.alarm_s == 60 and watcher.cfg["alarm.alarm_s"] == 60
    asyncio.run(rig.run())
    # The live threshold decides: a 40 s episode stays under 60 s, so NOTICE only.
    assert [r.level for r in rig.raised() if r.level in ("notice", "alarm")] == ["notice"]


def test_the_registry_builds_the_outputs_the_settings_enable(home):
    from anklet.outputs.registry import KINDS, BuildContext, build_outputs
    from anklet.outputs.web import WebOutput

    assert build_outputs(load()) == []
    tok = "our-own-long-secret-1234"
    write(config.default_path(), f'[outputs.web]\nenabled = true\nlisten = "127.0.0.1:8899"\ntoken = "{tok}"\n')
    [web] = build_outputs(load(), BuildContext(load(), say=lambda s: None))
    assert isinstance(web, WebOutput) and (web.host, web.port, web.token) == ("127.0.0.1", 8899, tok)
    write(config.default_path(), '[outputs.web]\ntoken = "1234"\n')
    with pytest.raises(ConfigError, match="outputs.web.token: .*at least 16"):
        load()
    assert all(f"outputs.{name}.enabled" in config.all_keys() for name in KINDS)


def test_anklet_monitor_refuses_a_bad_file_naming_the_key(home, monkeypatch):
    import argparse

    from anklet import monitor
    from anklet.cli import CliError

    write(config.default_path(), "[alarm]\nno_data_s = -1\n")
    parser = argparse.ArgumentParser()
    monitor.register(parser.add_subparsers())
    args = parser.parse_args(["monitor", "--db", str(home / "n.db")])
    with pytest.raises(CliError, match=r"config.toml: alarm.no_data_s: -1 is out of range"):
        args.func(args)


def test_the_file_refuses_exactly_what_the_monitor_refuses():
    from anklet.monitor import MUTE_MAX_S, SETTING_RANGES

    keys = config.BASE_KEYS
    for key, name, scale in (("alarm.no_data_s", "no_data_s", 1), ("alarm.repeat_s", "repeat_s", 1),
                             ("alarm.mute_min", "mute_s", 60)):
        lo, hi, _ = SETTING_RANGES[name]
        check = keys[key].check
        check(lo / scale)
        check(hi / scale)
        for bad in (lo / scale - 0.5, hi / scale + 0.5, float("nan"), float("inf")):
            with pytest.raises(ValueError):
                check(bad)
    assert SETTING_RANGES["mute_s"][1] == MUTE_MAX_S
