"""Alarm outputs: the sound (player, bell, report), desktop notifications that fail soft, the WAV."""

from __future__ import annotations

import asyncio
import io
import logging
import wave

import pytest

from anklet import alerts
from anklet.alerts import Notifier, Sound, sound_file


def play(sound):
    return asyncio.run(sound.play())


def test_player_that_works():
    out = io.StringIO()
    r = play(Sound("auto", out=out, player=["true"]))
    assert r.played and r.how == "true" and r.error is None
    assert out.getvalue() == ""


@pytest.mark.parametrize("player, why", [(["false"], "false failed"), (["/nonexistent/player"], "could not run")])
def test_player_that_fails_falls_back_to_the_bell_and_says_why(player, why):
    out = io.StringIO()
    r = play(Sound("auto", out=out, player=player))
    assert r.how == "terminal bell" and why in r.error
    assert out.getvalue() == "\a"


def test_no_audio_device_means_bell_with_a_reason(monkeypatch):
    monkeypatch.setattr(alerts.sys, "platform", "linux")
    monkeypatch.setattr(alerts, "_has_audio_device", lambda: (False, "no audio device (test)"))
    out = io.StringIO()
    s = Sound("auto", out=out)
    assert s.player is None and "no audio device" in s.describe()
    r = play(s)
    assert r.how == "terminal bell" and r.error == "no audio device (test)" and out.getvalue() == "\a"


def test_report_mode_never_plays_and_bell_mode_rings():
    out = io.StringIO()
    r = play(Sound("report", out=out))
    assert not r.played and "reported" in r.how and r.error is None and out.getvalue() == ""
    r = play(Sound("bell", out=out))
    assert r.how == "terminal bell" and r.error is None and out.getvalue() == "\a"
    with pytest.raises(ValueError, match="unknown sound mode"):
        Sound("loud")


def test_alarm_sound_file_is_a_short_loud_wav(tmp_path):
    path = sound_file()
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
        seconds = w.getnframes() / w.getframerate()
        frames = w.readframes(w.getnframes())
    assert 1.0 <= seconds <= 2.0
    peak = max(abs(int.from_bytes(frames[i:i + 2], "little", signed=True)) for i in range(0, len(frames), 2))
    assert peak > 0.7 * 32767
    # The committed file is what the committed script makes.
    import importlib.util

    spec = importlib.util.spec_from_file_location("mk", path.with_name("make_alarm_sound.py"))
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)
    mk.write(tmp_path / "a.wav")
    assert (tmp_path / "a.wav").read_bytes() == path.read_bytes()


class _LoggingNotifier:
    """Behaves like desktop-notifier without a session: logs the failure, raises nothing."""

    async def send(self, **kw):
        logging.getLogger("desktop_notifier").warning("Notification failed")


class _OkNotifier:
    def __init__(self):
        self.sent = []

    async def send(self, **kw):
        self.sent.append(kw)


class _RaisingNotifier:
    async def send(self, **kw):
        raise RuntimeError("dbus exploded")


@pytest.mark.parametrize("factory, why", [(_LoggingNotifier, "Notification failed"), (_RaisingNotifier, "dbus exploded")])
def test_notifier_fails_soft_and_says_why(factory, why):
    n = Notifier(factory=factory)
    assert why in asyncio.run(n.send("t", "m"))
    assert n.unavailable and n.sent == 0
    assert why in asyncio.run(n.send("t", "m"))  # stays unavailable without retrying each alarm


def test_notifier_sends():
    inner = _OkNotifier()
    n = Notifier(factory=lambda: inner)
    assert asyncio.run(n.send("anklet ALARM", "shaking", critical=True)) is None
    assert n.sent == 1 and inner.sent[0]["title"] == "anklet ALARM"


def test_notifier_without_a_desktop_session(monkeypatch):
    monkeypatch.setattr(alerts.sys, "platform", "linux")
    for var in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    assert "no desktop session" in asyncio.run(Notifier().send("t", "m"))
