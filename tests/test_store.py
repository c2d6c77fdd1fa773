"""The night log: permissions, WAL, migrations, idempotent events, episodes, clock mapping, triage."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone

import pytest

from anklet import store as store_mod
from anklet.records import DeviceEvent
from anklet.store import Store, StoreError

T0 = 1_790_000_000.0  # a night in 2026, epoch seconds


def ev(kind, t_ms, seq, boot=1, **fields):
    return DeviceEvent(kind, t_ms, fields, seq, boot)


def episode_events(onset_ms=60_000, seq0=0, boot=1, dur_ms=30_000):
    out = [ev("start", onset_ms + 5000, seq0, boot, onset_ms=onset_ms, freq_chz=250, rhythm=900, amp_mg=300)]
    seq = seq0 + 1
    for t in range(onset_ms + 10_000, onset_ms + dur_ms, 5000):
        out.append(ev("update", t, seq, boot, onset_ms=onset_ms, dur_ms=t - onset_ms, freq_chz=240, rhythm=880,
                      amp_mg=320, drift_chz=-10))
        seq += 1
    out.append(ev("end", onset_ms + dur_ms + 2000, seq, boot, onset_ms=onset_ms, dur_ms=dur_ms, freq_chz=230,
                  f_start_chz=260, f_end_chz=200, rhythm=870, amp_mg=310))
    return out


@pytest.fixture
def db(tmp_path):
    s = Store(tmp_path / "night.db")
    yield s
    s.close()


def test_new_log_is_private_wal_and_versioned(tmp_path):
    path = tmp_path / "sub" / "night.db"
    old = os.umask(0)  # even with a permissive umask
    try:
        s = Store(path)
        s.add_events("band-a", [ev("boot", 0, 0, reason=1, boot_count=1, fw_version=1)], T0)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    wal = path.with_name(path.name + "-wal")
    assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600
    assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.schema_version == store_mod.SCHEMA_VERSION
    s.close()


def test_loose_permissions_are_tightened(tmp_path):
    path = tmp_path / "night.db"
    path.touch()
    os.chmod(path, 0o644)
    Store(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_migrations_run_once_and_newer_schema_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "night.db"
    Store(path).close()
    # A later release adds a migration: opening the old log applies only that one.
    monkeypatch.setattr(store_mod, "MIGRATIONS", [*store_mod.MIGRATIONS, "ALTER TABLE bands ADD COLUMN nickname TEXT;"])
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", len(store_mod.MIGRATIONS))
    s = Store(path)
    assert s.schema_version == len(store_mod.MIGRATIONS)
    s.db.execute("UPDATE bands SET nickname = 'x'")  # the column exists
    versions = [r[0] for r in s.db.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, len(store_mod.MIGRATIONS) + 1))
    s.close()
    monkeypatch.undo()
    with pytest.raises(StoreError, match="newer than this anklet"):
        Store(path)


def test_events_are_idempotent_on_band_boot_seq(db):
    batch = [ev("activity", 60_000 * i, i, movement_mg=10 * i) for i in range(5)]
    assert db.add_events("band-a", batch, T0) == 5
    assert db.add_events("band-a", batch[2:], T0 + 10) == 0  # resent after a reconnect
    assert db.insert_events("band-a", batch[3:] + [ev("activity", 300_000, 5)], T0 + 11) == [False, False, True]
    # Same seq on another boot or another band is another event.
    assert db.add_events("band-a", [ev("activity", 0, 0, boot=2)], T0 + 12) == 1
    assert db.add_events("band-b", [ev("activity", 0, 0)], T0 + 12) == 1
    assert db.count_events("band-a") == 7
    assert db.last_seq("band-a", 1) == 5
    assert db.last_seq("band-a") == 0  # the most recently heard boot is 2
    assert db.last_seq("band-c") is None
    logged = db.events(band_id="band-a")
    assert [(e.event.boot, e.event.seq) for e in logged] == [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (2, 0)]
    assert logged[1].event.fields == {"movement_mg": 10}
    assert [e.event.seq for e in db.events(band_id="band-a", limit=2)] == [5, 0]


@pytest.mark.parametrize("bad, match", [
    (DeviceEvent("activity", 0, {}, None, 1), "no seq/boot"),
    (DeviceEvent("bogus", 0, {}, 9, 1), "unknown kind"),
    (DeviceEvent("activity", 0, {"nope": 1}, 9, 1), "unknown fields"),
    (DeviceEvent("activity", 0, {}, -1, 1), "out of range"),
])
def test_bad_input_is_refused_and_loses_nothing(db, bad, match):
    db.add_events("band-a", [ev("activity", 0, 0)], T0)
    good = ev("activity", 1000, 1)
    with pytest.raises(ValueError, match=match):
        db.add_events("band-a", [good, bad], T0 + 1)
    # The whole batch is refused, what was logged stays.
    assert [e.event.seq for e in db.events()] == [0]
    assert db.add_events("band-a", [good], T0 + 2) == 1


def test_failed_write_rolls_back_the_batch(db, tmp_path):
    db.add_events("band-a", [ev("activity", 0, 0)], T0)
    ro = sqlite3.connect(f"file:{tmp_path / 'night.db'}?mode=ro", uri=True, isolation_level=None)
    db.db.close()
    db.db = ro  # the log cannot be written any more
    db.db.row_factory = sqlite3.Row
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.add_events("band-a", [ev("activity", 1000, 1)], T0 + 1)
    assert not db.db.in_transaction
    assert db.count_events() == 1


def test_episode_built_from_start_update_end(db):
    events = episode_events(onset_ms=60_000, dur_ms=30_000)
    # Received in two parts; the episode is open until END.
    db.add_events("band-a", events[:3], T0 + 70)
    [open_ep] = db.episodes()
    assert open_ep.open and open_ep.duration_s == 15.0 and open_ep.f_start_hz == 2.5 and open_ep.freq_hz == 2.4
    assert open_ep.drift_hz == -0.1
    db.add_events("band-a", events[3:], T0 + 95)
    ep = db.episode(open_ep.id)
    assert not ep.open
    assert (ep.duration_s, ep.freq_hz, ep.f_start_hz, ep.f_end_hz, ep.amp_mg) == (30.0, 2.3, 2.6, 2.0, 310)
    assert ep.rhythm == pytest.approx(870 / 1024)
    assert ep.max_level is None
    # An UPDATE resent after the END does not reopen or shorten it.
    late = ev("update", 75_000, 99, onset_ms=60_000, dur_ms=15_000, freq_chz=100, rhythm=1, amp_mg=1)
    db.add_events("band-a", [late], T0 + 96)
    assert db.episode(ep.id).duration_s == 30.0 and not db.episode(ep.id).open
    with pytest.raises(KeyError, match="no episode 42"):
        db.episode(42)


def test_alarm_levels_raise_the_episode_max_level(db):
    db.add_events("band-a", episode_events(onset_ms=10_000), T0)
    ep_id = db.episode_id("band-a", 1, 10_000)
    db.add_alarm("notice", T0 + 1, band_id="band-a", boot=1, onset_ms=10_000, t_ms=20_000)
    db.add_alarm("alarm", T0 + 2, band_id="band-a", boot=1, onset_ms=10_000, t_ms=30_000)
    db.add_alarm("notice", T0 + 3, episode_id=ep_id)  # never lowers it
    assert db.episode(ep_id).max_level == "alarm"
    assert [e.id for e in db.episodes(min_level="alarm")] == [ep_id]
    assert db.episodes(min_level="escalation") == []
    f = db.add_alarm("fault", T0 + 5, band_id="band-a", code="no_data", message="no data for 31 s")
    db.end_alarm(f, T0 + 65)
    assert [a.level for a in db.alarms(faults=False)] == ["notice", "alarm", "notice"]
    [period] = db.faults()
    assert period.kind == "no_data" and period.duration_s == pytest.approx(60)
    assert db.ack_alarms([a.id for a in db.alarms(unacked=True)], T0 + 70, by="cli") == 4
    assert db.alarms(unacked=True) == []
    assert db.alarms()[0].acked_by == "cli"
    with pytest.raises(ValueError, match="unknown alarm level"):
        db.add_alarm("loud", T0)


def test_band_clock_maps_to_the_promptest_receive_time(db):
    # Boot 1 started at T0 - 100 (host clock). The first batch arrives late (queued while the host was away),
    # later events arrive 0.05 s after they happened.
    start = T0 - 100
    db.add_events("band-a", [ev("activity", 10_000, 0), ev("activity", 20_000, 1)], start + 90)
    assert db.wall_time("band-a", 1, 0).timestamp() == pytest.approx(start + 70)  # the best we know so far
    db.add_events("band-a", [ev("activity", 95_000, 2)], start + 95.05)
    assert db.wall_time("band-a", 1, 0).timestamp() == pytest.approx(start + 0.05)
    ev0 = db.events()[0]
    assert ev0.at.timestamp() == pytest.approx(start + 10.05)
    assert ev0.received_at.timestamp() == pytest.approx(start + 90)
    assert db.wall_time("band-a", 7, 0) is None


def test_episodes_since_uses_wall_clock_onsets(db):
    db.add_events("band-a", [ev("activity", 0, 0)], T0)  # boot 1 began at T0
    db.add_events("band-a", episode_events(onset_ms=3_600_000, seq0=1), T0 + 3700)
    db.add_events("band-a", episode_events(onset_ms=7_200_000, seq0=20), T0 + 7300)
    eps = db.episodes()
    assert [e.onset.timestamp() for e in eps] == [pytest.approx(T0 + 3600), pytest.approx(T0 + 7200)]
    assert eps[0].onset.tzinfo is not None
    since = datetime.fromtimestamp(T0 + 5000, tz=timezone.utc)
    assert [e.onset_ms for e in db.episodes_since(since)] == [7_200_000]
    # A naive datetime is local time.
    naive = datetime.fromtimestamp(T0 + 5000)
    assert [e.onset_ms for e in db.episodes_since(naive)] == [7_200_000]
    assert [e.onset_ms for e in db.episodes(until=since - timedelta(seconds=1))] == [3_600_000]


def test_triage_saved_with_the_episode(db):
    db.add_events("band-a", episode_events(), T0)
    [ep] = db.episodes()
    assert db.triage_for(ep.id) is None
    db.save_triage(ep.id, {"observations": {"stops_when_held": "no"}}, {"level": "urgent"}, saved_at=T0 + 1)
    db.save_triage(ep.id, {"observations": {"stops_when_held": "yes"}}, {"level": "soon"}, saved_at=T0 + 2)
    got = db.triage_for(ep.id)
    assert got["result"] == {"level": "soon"} and got["answers"]["observations"]["stops_when_held"] == "yes"
    with pytest.raises(KeyError):
        db.save_triage(999, {}, {})


def test_gaps_band_off_and_battery(db):
    db.add_events("band-a", [ev("status", 0, 0, battery_pct=80, battery_mv=3900, worn=1)], T0)
    db.add_events("band-a", [ev("status", 10_000, 1, battery_pct=79, battery_mv=3890, worn=0)], T0 + 10)
    db.add_events("band-a", [ev("status", 20_000, 2, battery_pct=79, battery_mv=3890, worn=1)], T0 + 20)
    db.add_events("band-a", [ev("status", 200_000, 3, battery_pct=18, battery_mv=3500, worn=0)], T0 + 200)
    [gap] = db.gaps(until=T0 + 210)
    assert gap.start.timestamp() == T0 + 20 and gap.end.timestamp() == T0 + 200
    assert db.gaps(until=T0 + 300)[-1].end.timestamp() == T0 + 300
    off = db.band_off()
    assert [(p.start.timestamp(), p.end and p.end.timestamp()) for p in off] == [(T0 + 10, T0 + 20), (T0 + 200, None)]
    assert [b[1] for b in db.battery()] == [80, 79, 79, 18]


def test_sessions_and_requests(db):
    sid, unclean = db.start_session(T0, pid=123)
    assert unclean is None
    assert db.running_session(T0 + 5)["pid"] == 123
    assert db.running_session(T0 + 60) is None  # its heartbeat is stale
    sid2, unclean = db.start_session(T0 + 100)  # the first never ended: it crashed
    assert unclean["id"] == sid
    db.end_session(sid2, T0 + 200)
    assert db.start_session(T0 + 300)[1] is None
    db.request("ack", T0 + 301, mute_s=120)
    [req] = db.take_requests(T0 + 302)
    assert req["action"] == "ack" and req["mute_s"] == 120
    assert db.take_requests(T0 + 303) == []


def test_refuses_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "night.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the log"):
        Store(path)


def test_killed_writer_loses_nothing_it_committed(tmp_path):
    """A writer killed with SIGKILL mid-stream: every event it reported committed is in the log."""
    path = tmp_path / "night.db"
    code = textwrap.dedent(f"""
        import sys
        from anklet.records import DeviceEvent
        from anklet.store import Store
        s = Store({str(path)!r})
        for i in range(100000):
            s.add_events("band-a", [DeviceEvent("activity", i * 1000, {{"movement_mg": i}}, i, 1)], 1e9 + i)
            print(i, flush=True)  # acknowledged only after the commit returned
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    acked = []
    deadline = time.monotonic() + 20
    while len(acked) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acked.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(acked) >= 300, "writer too slow or died"
    s = Store(path)
    seqs = [e.event.seq for e in s.events()]
    assert seqs[: len(acked)] == acked  # everything acknowledged is there, in order, once
    assert seqs == list(range(len(seqs)))
    s.close()


def test_a_wiped_band_starting_again_at_seq_1_loses_nothing(db):
    night1 = [ev("boot", 0, 1, reason=1, boot_count=1, fw_version=1)] + episode_events(onset_ms=60_000, seq0=2)
    assert db.add_events("band-a", night1, T0) == len(night1)
    # Two nights later the band was re-flashed: boot 1 and seq 1 again, and other events under the same numbers.
    later = T0 + 2 * 86400
    night2 = [ev("boot", 0, 1, reason=1, boot_count=1, fw_version=1)] + episode_events(onset_ms=90_000, seq0=2)
    assert db.insert_events("band-a", night2, later) == [True] * len(night2)
    assert db.count_events() == len(night1) + len(night2)
    assert db.last_seq("band-a") == night2[-1].seq and db.last_seq("band-a", 1) == night2[-1].seq
    # Each night's episode keeps its own events and clock mapping.
    eps = db.episodes()
    assert [e.onset_ms for e in eps] == [60_000, 90_000] and all(e.boot == 1 and not e.open for e in eps)
    assert eps[1].onset.timestamp() == pytest.approx(later + 90)
    assert db.episode_id("band-a", 1, 90_000) == eps[1].id
    # A real resend of the new numbering is still recognised as one.
    assert db.add_events("band-a", night2[-2:], later + 60) == 0
    assert all(e.event.boot == 1 for e in db.events())


def test_a_same_content_event_differing_only_in_fields_is_not_a_resend(db):
    db.add_events("band-a", [ev("activity", 60_000, 5, movement_mg=10)], T0)
    assert db.add_events("band-a", [ev("activity", 60_000, 5, movement_mg=11)], T0 + 5) == 1
    assert db.add_events("band-a", [ev("activity", 60_000, 5, movement_mg=11)], T0 + 6) == 0


def test_a_version_1_log_with_data_is_migrated_in_place(tmp_path, monkeypatch):
    path = tmp_path / "night.db"
    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS[:1])
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", 1)
    old = Store(path)
    old.db.execute("INSERT INTO bands VALUES ('band-a', ?, ?)", (T0, T0))  # as version 1 wrote it
    old.db.execute("INSERT INTO boots VALUES ('band-a', 1, ?, ?, ?)", (T0, T0, T0))
    old.db.execute("INSERT INTO events (band, boot, seq, kind, t_ms, fields, received_at) "
                   "VALUES ('band-a', 1, 1, 'activity', 60000, '{\"movement_mg\": 3}', ?)", (T0 + 60,))
    assert old.schema_version == 1
    old.close()
    monkeypatch.undo()
    s = Store(path)
    assert s.schema_version == store_mod.SCHEMA_VERSION >= 2
    [e] = s.events()
    assert e.event.fields == {"movement_mg": 3} and e.at.timestamp() == pytest.approx(T0 + 60)
    assert s.add_events("band-a", [ev("activity", 60_000, 1, movement_mg=3)], T0 + 61) == 0  # still the same event
    assert s.add_events("band-a", [ev("activity", 120_000, 2)], T0 + 120) == 1
    s.close()
