"""Every command that takes a time reads the same forms (anklet.timeparse), in local time by default."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from test_report_helpers import add_night, write_recording

from anklet.cli import main
from anklet.store import Store
from anklet.timeparse import TimeError, parse_day, parse_time

NOW = datetime(2026, 12, 1, 7, 30).astimezone().timestamp()


@pytest.mark.parametrize("text, expect", [
    ("2026-11-30T20:00", datetime(2026, 11, 30, 20, 0)),
    ("2026-11-30 20:00", datetime(2026, 11, 30, 20, 0)),
    ("2026-11-30", datetime(2026, 11, 30)),
    ("22:30", datetime(2026, 11, 30, 22, 30)),  # the latest 22:30 not in the future: last night
    ("07:00", datetime(2026, 12, 1, 7, 0)),
    ("12h", datetime(2026, 11, 30, 19, 30)),
    ("90m", datetime(2026, 12, 1, 6, 0)),
    ("now", datetime(2026, 12, 1, 7, 30)),
])
def test_forms_are_local_and_aware(text, expect):
    got = parse_time(text, NOW)
    assert got.tzinfo is not None
    assert got == expect.astimezone()


def test_offset_kept_and_bad_text_says_the_forms():
    assert parse_time("2026-11-30T20:00+00:00").utcoffset() == timedelta(0)
    for bad in ("yesterday", "25:00", "2026-13-01", ""):
        with pytest.raises(TimeError, match="2026-11-30T20:00"):
            parse_time(bad, NOW)
    assert parse_day("2026-11-30") == date(2026, 11, 30)
    assert parse_day("2d", NOW) == date(2026, 11, 29)


def test_every_time_option_takes_the_naive_iso_form(tmp_path, capsys):
    """The form the docs give (no offset) used to end in a TypeError in the EDF export."""
    store = Store(tmp_path / "log.db")
    try:
        night = add_night(store, date(2026, 11, 21), seizures=1, minutes=10)
        rec = write_recording(night, tmp_path, 100, 160)
    finally:
        store.close()
    db = str(tmp_path / "log.db")
    since = night.wall(0).astimezone().replace(tzinfo=None) - timedelta(hours=1)
    until = since + timedelta(hours=12)
    s, u = since.strftime("%Y-%m-%dT%H:%M"), until.strftime("%Y-%m-%dT%H:%M")
    assert main(["export", "--db", db, "--edf", str(tmp_path / "b.edf"), "--raw", str(rec),
                 "--since", s, "--until", u]) == 0
    assert (tmp_path / "b.edf").exists()
    assert main(["log", "--db", db, "--what", "episodes", "--since", s, "--until", u]) == 0
    assert "episode" in capsys.readouterr().out
    assert main(["export", "--db", db, str(tmp_path / "e.json"), "--since", s.replace("T", " ")]) == 0
    assert main(["report", "--db", db, "--night", "2026-11-21", "--out", str(tmp_path / "r.html")]) == 0
    capsys.readouterr()
    for argv in (["log", "--db", db, "--since", "last tuesday"],
                 ["export", "--db", db, "-", "--format", "json", "--until", "25:99"],
                 ["report", "--db", db, "--night", "tonight", "--out", str(tmp_path / "r.html")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "cannot read the" in err and "2026-11-30T20:00" in err
