"""`anklet triage last` asks about the episode the parents just lived through, and every question names it."""

from __future__ import annotations

import io
from datetime import datetime

import pytest

from anklet.cli import main
from anklet.records import DeviceEvent
from anklet.store import Store
from anklet.triage import latest_episode
from anklet.triage.schema import FIELDS

T0 = datetime(2026, 11, 30, 22, 0).astimezone().timestamp()


def _episode(store: Store, seq: int, onset_ms: int, dur_ms: int, *, end: bool = True) -> None:
    fields = {"onset_ms": onset_ms, "dur_ms": dur_ms, "freq_chz": 120, "f_start_chz": 130, "f_end_chz": 110,
              "rhythm": 800, "amp_mg": 250}
    if end:
        ev = DeviceEvent("end", onset_ms + dur_ms, fields, seq=seq, boot=1)
    else:
        ev = DeviceEvent("start", onset_ms + 3000, {"onset_ms": onset_ms, "freq_chz": 120, "rhythm": 800,
                                                    "amp_mg": 250}, seq=seq, boot=1)
    store.add_events("band-a", [ev], received_at=T0 + (onset_ms + dur_ms) / 1000)


@pytest.fixture
def night(tmp_path):
    """Episode 1: 70 s, raised an ALARM. Episode 2: 7 s later on, no alarm (the issue's night)."""
    db = tmp_path / "night.db"
    store = Store(db)
    _episode(store, 1, 540_000, 70_000)
    store.add_alarm("notice", T0 + 551, band_id="band-a", boot=1, onset_ms=540_000)
    store.add_alarm("alarm", T0 + 561, band_id="band-a", boot=1, onset_ms=540_000)
    _episode(store, 2, 1_800_000, 7_000)
    store.close()
    return db


def _ask(db, stdin: str, monkeypatch, capsys) -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main(["triage", "last", "--db", str(db)]) == 0
    return capsys.readouterr().out


def test_last_is_the_alarmed_episode_and_every_question_names_it(night, monkeypatch, capsys):
    out = _ask(night, "n\nn\nn\n", monkeypatch, capsys)
    head = out.split(FIELDS["observations.unresponsive"].question)[0]
    # Said before the first question: which episode, when, how long, what the band measured, the alarm.
    assert "Episode 1" in head and "22:09:00" in head and "1 min 10 s" in head
    assert "1.2 beats a second" in head and "ALARM" in head
    asked = out.count("[y/n/?]")  # every prompt ends in its answer hint (the answers do not echo in a test)
    assert asked >= 3 and out.count("(episode 1 at 22:09, 1 min 10 s) ") == asked
    store = Store(night)
    try:
        assert store.triage_for(1) is not None and store.triage_for(2) is None
    finally:
        store.close()


def test_a_later_episode_still_going_comes_first(night, monkeypatch, capsys):
    store = Store(night)
    _episode(store, 3, 2_400_000, 0, end=False)
    store.close()
    out = _ask(night, "", monkeypatch, capsys)
    assert "Episode 3" in out and "still going" in out


def test_latest_episode_rule():
    from types import SimpleNamespace as E

    assert latest_episode([]) is None
    quiet = [E(id=1, max_level=None, open=False), E(id=2, max_level="notice", open=False)]
    assert latest_episode(quiet).id == 2  # nothing alarmed: the latest
    loud = [E(id=1, max_level="alarm", open=False), E(id=2, max_level=None, open=False),
            E(id=3, max_level="escalation", open=False), E(id=4, max_level="notice", open=False)]
    assert latest_episode(loud).id == 3
    assert latest_episode([*loud, E(id=5, max_level=None, open=True)]).id == 5
