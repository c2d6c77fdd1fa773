"""The night log: every band event, episode, alarm, fault and triage answer, in SQLite.

One file per household, readable by its owner only (0600), in WAL mode so the monitor
can write while `anklet log` or a report reads. The schema is versioned: MIGRATIONS
is an append-only list and opening a log brings it up to date in one transaction.

Events are idempotent on (band, boot, seq): the band resends everything after the
last acknowledged sequence number, and a resent event is silently ignored, so each
event is logged exactly once. The monitor acknowledges to the band only after
`add_events` has returned, i.e. after the commit.

A band whose flash was wiped (re-flashed, or a new queue) starts its numbering again
at boot 1, seq 1, which the log already holds. A "resend" whose content differs from
what is logged, or that arrives more than RESEND_MAX_S after the original (a band only
resends what it was not yet acknowledged for, within a reconnect), is therefore taken
as a new numbering: the band's generation goes up and the event is logged. Internally
the boot column holds `generation << 16 | boot`; the API shows the band's boot.

Band clock to wall clock. The band stamps events with its sample clock `t_ms`
(milliseconds since its detector started, counted in samples). For each (band, boot)
the log keeps `offset = min(received_at - t_ms / 1000)` over all events received from
that boot. An event is received at or after it happened, so every sample of
`received_at - t` is an upper bound of the true offset, and the smallest one (an event
delivered promptly) is the best estimate; events resent after a reconnect arrive late
and do not disturb it. Wall time of a band time is then `offset + t_ms / 1000`,
computed when read, so a later, tighter estimate corrects earlier episodes too. The
error is the radio latency of the quickest event (tens of ms) plus the band crystal's
drift (about 50 ppm: 0.2 s over an hour).

Episodes are built from START/UPDATE/END events as they are inserted, keyed by
(band, boot, onset_ms); END's fields are the summary. An episode without END is open.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from anklet_fw.event_fields import FIELDS

from .records import KIND_BY_NAME, DeviceEvent

ALARM_LEVELS = ("notice", "alarm", "escalation")  # episode alarm levels, in rising order
FAULT = "fault"


class StoreError(Exception):
    """The log cannot be opened or used; the text says why."""


# Append only: never edit a shipped migration, add a new one.
MIGRATIONS: list[str] = [
    # 1: the first schema.
    """
    CREATE TABLE bands (
        band TEXT PRIMARY KEY,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL
    );
    CREATE TABLE boots (
        band TEXT NOT NULL,
        boot INTEGER NOT NULL,
        offset_s REAL NOT NULL,          -- wall = offset_s + t_ms / 1000 (see module docstring)
        first_received REAL NOT NULL,
        last_received REAL NOT NULL,
        PRIMARY KEY (band, boot)
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        band TEXT NOT NULL,
        boot INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        t_ms INTEGER NOT NULL,
        fields TEXT NOT NULL,            -- JSON object, names from anklet_fw.event_fields.FIELDS
        received_at REAL NOT NULL,
        UNIQUE (band, boot, seq)
    );
    CREATE INDEX events_received ON events (received_at);
    CREATE TABLE episodes (
        id INTEGER PRIMARY KEY,
        band TEXT NOT NULL,
        boot INTEGER NOT NULL,
        onset_ms INTEGER NOT NULL,
        last_t_ms INTEGER NOT NULL,
        dur_ms INTEGER NOT NULL,
        freq_chz INTEGER NOT NULL,
        f_start_chz INTEGER NOT NULL,
        f_end_chz INTEGER NOT NULL,
        rhythm INTEGER NOT NULL,         -- 0..1024
        amp_mg INTEGER NOT NULL,
        drift_chz INTEGER NOT NULL DEFAULT 0,
        closed INTEGER NOT NULL DEFAULT 0,
        max_level TEXT,
        UNIQUE (band, boot, onset_ms)
    );
    CREATE TABLE alarms (
        id INTEGER PRIMARY KEY,
        band TEXT,
        level TEXT NOT NULL,             -- notice | alarm | escalation | fault | warning
        code TEXT NOT NULL,              -- episode alarms: the level; faults: no_data, not_worn, ...
        message TEXT NOT NULL,
        raised_at REAL NOT NULL,
        episode_id INTEGER REFERENCES episodes (id),
        boot INTEGER,
        t_ms INTEGER,
        acked_at REAL,
        acked_by TEXT,
        ended_at REAL,                   -- faults: when the condition went away
        sounded TEXT                     -- how the alarm was sounded, or why it could not be
    );
    CREATE INDEX alarms_raised ON alarms (raised_at);
    CREATE TABLE triage (
        id INTEGER PRIMARY KEY,
        episode_id INTEGER NOT NULL REFERENCES episodes (id),
        saved_at REAL NOT NULL,
        answers TEXT NOT NULL,
        result TEXT NOT NULL
    );
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        alive_at REAL NOT NULL,
        ended_at REAL,
        pid INTEGER,
        note TEXT
    );
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        made_at REAL NOT NULL,
        action TEXT NOT NULL,            -- ack
        mute_s REAL,
        source TEXT,
        handled_at REAL
    );
    """,
    # 2: a band's numbering generation (a wiped band starts again at boot 1, seq 1).
    """
    ALTER TABLE bands ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
RESEND_MAX_S = 24 * 3600.0  # an event logged longer ago than this is never legitimately resent
_BOOT_BITS = 16
WAL_PAGES = 16  # checkpoint the write-ahead file every 16 pages (64 KB)
WAL_LIMIT = 64 * 1024  # and cut it back to this size after


def default_db_path() -> Path:
    """$ANKLET_DB, else $XDG_DATA_HOME/anklet/anklet.db (~/.local/share/anklet/anklet.db)."""
    env = os.environ.get("ANKLET_DB")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "anklet" / "anklet.db"


def to_datetime(ts: float | None) -> datetime | None:
    """Epoch seconds to an aware datetime in the local time zone."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).astimezone()


def to_epoch(dt: datetime | float | int | None) -> float | None:
    """An aware datetime, a naive one (local time) or epoch seconds, to epoch seconds."""
    if dt is None:
        return None
    if isinstance(dt, datetime):
        return dt.timestamp()
    return float(dt)


@dataclass(frozen=True)
class Episode:
    """One episode of rhythmic shaking as the band reported it."""

    id: int
    band: str
    boot: int
    onset_ms: int  # band clock
    onset: datetime | None  # wall clock (see the module docstring); None before any event mapped it
    duration_s: float
    freq_hz: float
    f_start_hz: float
    f_end_hz: float
    rhythm: float  # 0..1, 1 = perfectly periodic
    amp_mg: int
    drift_hz: float
    open: bool  # no END yet
    max_level: str | None  # highest alarm level raised for it

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "band": self.band,
            "boot": self.boot,
            "onset": self.onset.isoformat() if self.onset else None,
            "onset_ms": self.onset_ms,
            "duration_s": round(self.duration_s, 3),
            "freq_hz": self.freq_hz,
            "f_start_hz": self.f_start_hz,
            "f_end_hz": self.f_end_hz,
            "rhythm": round(self.rhythm, 3),
            "amp_mg": self.amp_mg,
            "drift_hz": self.drift_hz,
            "open": self.open,
            "max_level": self.max_level,
        }


@dataclass(frozen=True)
class Alarm:
    """An episode alarm or a fault alarm, as logged."""

    id: int
    band: str | None
    level: str
    code: str
    message: str
    raised_at: datetime
    episode_id: int | None = None
    boot: int | None = None
    t_ms: int | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    ended_at: datetime | None = None
    sounded: str | None = None

    @property
    def is_fault(self) -> bool:
        return self.level not in ALARM_LEVELS

    def to_json(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "id": self.id,
            "band": self.band,
            "level": self.level,
            "code": self.code,
            "message": self.message,
            "raised_at": iso(self.raised_at),
            "episode_id": self.episode_id,
            "boot": self.boot,
            "t": None if self.t_ms is None else self.t_ms / 1000.0,
            "acked_at": iso(self.acked_at),
            "acked_by": self.acked_by,
            "ended_at": iso(self.ended_at),
            "sounded": self.sounded,
        }


@dataclass(frozen=True)
class LoggedEvent:
    """A device event with where and when it was logged."""

    id: int
    band: str
    received_at: datetime
    at: datetime | None  # wall time of the event (band clock mapped, see the module docstring)
    event: DeviceEvent

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "band": self.band,
            "boot": self.event.boot,
            "seq": self.event.seq,
            "kind": self.event.kind,
            "t_ms": self.event.t_ms,
            "at": self.at.isoformat() if self.at else None,
            "received_at": self.received_at.isoformat(),
        }
        out["fields"] = dict(self.event.fields)
        return out


@dataclass(frozen=True)
class Period:
    """A stretch of the night worth reporting: no data, band off, battery low, a fault."""

    kind: str  # no_data | fault code
    start: datetime
    end: datetime | None  # None: still going
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()


def _validate(event: DeviceEvent, band_id: str) -> tuple[int, int]:
    """Reject what cannot be logged, with a reason, before anything is written."""
    if not isinstance(event, DeviceEvent):
        raise ValueError(f"not a DeviceEvent: {event!r}")
    if event.kind not in KIND_BY_NAME:
        raise ValueError(f"event of unknown kind {event.kind!r} from band {band_id}")
    if event.seq is None or event.boot is None:
        raise ValueError(f"event {event.kind} at t={event.t_ms} ms from band {band_id} has no seq/boot: cannot log it idempotently")
    if not (0 <= event.seq < 2**32 and 0 <= event.boot < 2**16):
        raise ValueError(f"event seq {event.seq} / boot {event.boot} from band {band_id} out of range")
    known = FIELDS[KIND_BY_NAME[event.kind]]
    unknown = set(event.fields) - set(known)
    if unknown:
        raise ValueError(f"{event.kind} event seq {event.seq} has unknown fields {sorted(unknown)}")
    return event.boot, event.seq


class Store:
    """The log. One instance per thread; `close()` it (or use `with`)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0, readonly: bool = False) -> None:
        """Open (and create, bring up to date) the log; `readonly` opens an existing anklet log for reading only:
        it never writes, works while another process holds a write transaction, and refuses what is not a log."""
        self.path = Path(path)
        self.readonly = readonly
        if str(path) == ":memory:":
            raise StoreError("the log must be a file (WAL mode); use a temporary directory in tests")
        if readonly:
            self._open_readonly(timeout)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Create it ourselves so it is never world-readable, not even for a moment.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            if self.path.stat().st_mode & 0o077:
                os.chmod(self.path, 0o600)
            self.inode = self._inode()
        except OSError as exc:
            raise StoreError(f"cannot open the log {self.path}: {exc.strerror or exc}") from exc
        try:
            self.db = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self._refuse_foreign()
            mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"the log {self.path} cannot use WAL mode (got {mode}); is it on a network drive?")
            self.db.execute("PRAGMA synchronous=FULL")  # an acknowledged event must survive power loss
            self.db.execute("PRAGMA foreign_keys=ON")
            # A small write-ahead file: checkpointed every WAL_PAGES pages (not SQLite's 1,000, 4 MB) and cut back
            # to WAL_LIMIT bytes after, so a nearly full disk is not filled by the WAL and the log recovers when
            # a little room comes back.
            self.db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
            self.db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the log {self.path}: {exc}") from exc

    def _open_readonly(self, timeout: float) -> None:
        if not self.path.is_file():
            raise StoreError(f"no log at {self.path}")
        try:
            self.db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout,
                                      isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA query_only=ON")
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"schema_version", "events", "alarms", "episodes"} <= tables:
                raise StoreError(f"{self.path} is not an anklet log")
            version = self.schema_version
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the log {self.path}: {exc} (is it an anklet log, undamaged?)") from exc
        if version != SCHEMA_VERSION:
            raise StoreError(f"the log {self.path} has schema version {version}, this anklet reads {SCHEMA_VERSION}: "
                             + ("upgrade anklet" if version > SCHEMA_VERSION else "run `anklet monitor` once to update it"))
        self.inode = self._inode()

    def _refuse_foreign(self) -> None:
        """Never write anklet's schema into another program's SQLite file."""
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "schema_version" not in tables:
            raise StoreError(f"{self.path} is an SQLite file but not an anklet log: choose another --db")

    def _inode(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def replaced(self) -> bool:
        """Has the file at `path` been deleted or replaced since it was opened?"""
        return self._inode() != self.inode

    def reopen(self) -> int:
        """After the file was deleted or replaced: write everything this connection still holds (the deleted
        file stays readable while it is open) into a new log at `path`, and use that. Returns the events kept."""
        tmp = self.path.with_name(self.path.name + ".restore")
        for stale in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            stale.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        new = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            self.db.backup(new)
            new.execute("PRAGMA journal_mode=DELETE")  # one file to move into place
        finally:
            new.close()
        if self.path.exists() and self.path.stat().st_size > 0:
            # Something else now lives at the path (a new file with data): keep it beside, never over it.
            os.replace(self.path, self.path.with_name(self.path.name + f".displaced-{int(time.time())}"))
        for side in (Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            side.unlink(missing_ok=True)
        os.replace(tmp, self.path)
        old = self.db
        timeout = 5.0
        self.__init__(self.path, timeout=timeout)  # type: ignore[misc]
        old.close()
        return self.count_events()

    def set_busy_timeout(self, seconds: float) -> None:
        """How long a write waits for another process's write lock before it fails (and is retried later)."""
        self.db.execute(f"PRAGMA busy_timeout={max(0, int(seconds * 1000))}")

    def checkpoint(self) -> None:
        """Copy the write-ahead file into the log and cut it to nothing (frees disk space; fails harmlessly)."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- housekeeping -------------------------------------------------------------

    def _migrate(self) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at REAL NOT NULL)")
            row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"the log {self.path} has schema version {current}, newer than this anklet knows "
                    f"({SCHEMA_VERSION}); upgrade anklet"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in _statements(MIGRATIONS[version - 1]):
                    db.execute(statement)
                db.execute("INSERT INTO schema_version VALUES (?, ?)", (version, time.time()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- events -------------------------------------------------------------------

    def add_events(self, band_id: str, events: Sequence[DeviceEvent], received_at: float | datetime) -> int:
        """Log events in one transaction; return how many were new (resent ones are ignored)."""
        return sum(self.insert_events(band_id, events, received_at))

    def insert_events(self, band_id: str, events: Sequence[DeviceEvent], received_at: float | datetime) -> list[bool]:
        """Like add_events, but say for each event whether it was new. Nothing is written if any event is invalid."""
        if not band_id:
            raise ValueError("band id is empty")
        now = to_epoch(received_at)
        assert now is not None
        for e in events:
            _validate(e, band_id)
        out: list[bool] = []
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO bands (band, first_seen, last_seen) VALUES (?, ?, ?) "
                "ON CONFLICT (band) DO UPDATE SET last_seen = MAX(last_seen, excluded.last_seen)",
                (band_id, now, now),
            )
            gen = self._gen(band_id)
            for e in events:
                fields = json.dumps(e.fields, sort_keys=True)
                insert = ("INSERT OR IGNORE INTO events (band, boot, seq, kind, t_ms, fields, received_at) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)")
                key = (gen << _BOOT_BITS) | e.boot  # type: ignore[operator]
                new = db.execute(insert, (band_id, key, e.seq, e.kind, e.t_ms, fields, now)).rowcount == 1
                if not new and self._renumbered(band_id, key, e, fields, now):
                    gen += 1
                    db.execute("UPDATE bands SET gen = ? WHERE band = ?", (gen, band_id))
                    key = (gen << _BOOT_BITS) | e.boot  # type: ignore[operator]
                    new = db.execute(insert, (band_id, key, e.seq, e.kind, e.t_ms, fields, now)).rowcount == 1
                out.append(new)
                if not new:
                    continue
                offset = now - e.t_ms / 1000.0
                db.execute(
                    "INSERT INTO boots VALUES (?, ?, ?, ?, ?) ON CONFLICT (band, boot) DO UPDATE SET "
                    "offset_s = MIN(offset_s, excluded.offset_s), last_received = MAX(last_received, excluded.last_received)",
                    (band_id, key, offset, now, now),
                )
                if e.kind in ("start", "update", "end"):
                    self._episode_event(band_id, key, e)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return out

    def _gen(self, band_id: str) -> int:
        row = self.db.execute("SELECT gen FROM bands WHERE band = ?", (band_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def _key(self, band_id: str, boot: int) -> int:
        """The boot column's value for the band's boot in its current numbering generation."""
        return (self._gen(band_id) << _BOOT_BITS) | boot

    def _renumbered(self, band_id: str, key: int, e: DeviceEvent, fields: str, now: float) -> bool:
        """Is this event, whose (band, boot, seq) is logged, something else than a resend of it?"""
        row = self.db.execute("SELECT kind, t_ms, fields, received_at FROM events WHERE band = ? AND boot = ? AND seq = ?",
                              (band_id, key, e.seq)).fetchone()
        if row is None:
            return False
        same = (row["kind"], row["t_ms"], row["fields"]) == (e.kind, e.t_ms, fields)
        return not same or now - row["received_at"] > RESEND_MAX_S

    def _episode_event(self, band_id: str, key: int, e: DeviceEvent) -> None:
        f = e.fields
        onset = f["onset_ms"]
        row = self.db.execute(
            "SELECT id, last_t_ms, closed FROM episodes WHERE band = ? AND boot = ? AND onset_ms = ?",
            (band_id, key, onset),
        ).fetchone()
        freq = f.get("freq_chz", 0)
        if e.kind == "end":
            dur = f.get("dur_ms", e.t_ms - onset)
            values = dict(last_t_ms=e.t_ms, dur_ms=dur, freq_chz=freq, f_start_chz=f.get("f_start_chz", freq),
                          f_end_chz=f.get("f_end_chz", freq), rhythm=f.get("rhythm", 0), amp_mg=f.get("amp_mg", 0),
                          closed=1)
        else:
            dur = f.get("dur_ms", e.t_ms - onset)
            values = dict(last_t_ms=e.t_ms, dur_ms=dur, freq_chz=freq, f_end_chz=freq, rhythm=f.get("rhythm", 0),
                          amp_mg=f.get("amp_mg", 0))
            if "drift_chz" in f:
                values["drift_chz"] = f["drift_chz"]
        if row is None:
            values.setdefault("f_start_chz", freq)
            values.setdefault("closed", 0)
            cols = ["band", "boot", "onset_ms", *values]
            self.db.execute(
                f"INSERT INTO episodes ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                (band_id, key, onset, *values.values()),
            )
            return
        if row["closed"] or e.t_ms < row["last_t_ms"]:
            return  # END already summarised it, or this is older than what we have
        sets = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE episodes SET {sets} WHERE id = ?", (*values.values(), row["id"]))

    def last_seq(self, band_id: str, boot: int | None = None) -> int | None:
        """The highest logged seq of `boot` (default: the band's most recently heard boot), or None."""
        if boot is None:
            row = self.db.execute(
                "SELECT boot FROM boots WHERE band = ? ORDER BY last_received DESC, boot DESC LIMIT 1", (band_id,)
            ).fetchone()
            if row is None:
                return None
            key = row[0]
        else:
            key = self._key(band_id, boot)
        row = self.db.execute("SELECT MAX(seq) FROM events WHERE band = ? AND boot = ?", (band_id, key)).fetchone()
        return row[0]

    def count_events(self, band_id: str | None = None) -> int:
        if band_id is None:
            return int(self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        return int(self.db.execute("SELECT COUNT(*) FROM events WHERE band = ?", (band_id,)).fetchone()[0])

    def events(self, since: datetime | float | None = None, until: datetime | float | None = None, *,
               band_id: str | None = None, kinds: Iterable[str] | None = None, limit: int | None = None) -> list[LoggedEvent]:
        """Logged events in (band, boot, seq) order, filtered by receive time."""
        where, args = self._where(since, until, band_id, "e.received_at", "e.band")
        if kinds is not None:
            kinds = list(kinds)
            where.append(f"e.kind IN ({', '.join('?' * len(kinds))})")
            args += kinds
        sql = ("SELECT e.*, b.offset_s FROM events e LEFT JOIN boots b ON b.band = e.band AND b.boot = e.boot"
               + (" WHERE " + " AND ".join(where) if where else ""))
        if limit is not None:  # the latest `limit`, still oldest first
            sql = f"SELECT * FROM ({sql} ORDER BY e.id DESC LIMIT {int(limit)}) ORDER BY id"
        else:
            sql += " ORDER BY e.id"
        out = []
        for r in self.db.execute(sql, args):
            de = DeviceEvent(r["kind"], r["t_ms"], json.loads(r["fields"]), r["seq"], r["boot"] & 0xFFFF)
            at = None if r["offset_s"] is None else to_datetime(r["offset_s"] + r["t_ms"] / 1000.0)
            out.append(LoggedEvent(r["id"], r["band"], to_datetime(r["received_at"]), at, de))  # type: ignore[arg-type]
        return out

    @staticmethod
    def _where(since: Any, until: Any, band_id: str | None, tcol: str, bcol: str) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            where.append(f"{tcol} >= ?")
            args.append(to_epoch(since))
        if until is not None:
            where.append(f"{tcol} < ?")
            args.append(to_epoch(until))
        if band_id is not None:
            where.append(f"{bcol} = ?")
            args.append(band_id)
        return where, args

    def wall_time(self, band_id: str, boot: int, t_ms: int) -> datetime | None:
        """The wall-clock time of band time t_ms of that boot, or None if nothing of that boot was logged."""
        row = self.db.execute("SELECT offset_s FROM boots WHERE band = ? AND boot = ?",
                              (band_id, self._key(band_id, boot))).fetchone()
        return None if row is None else to_datetime(row[0] + t_ms / 1000.0)

    # -- episodes -----------------------------------------------------------------

    _EPISODE_SQL = ("SELECT p.*, b.offset_s FROM episodes p LEFT JOIN boots b ON b.band = p.band AND b.boot = p.boot")

    @staticmethod
    def _episode(r: sqlite3.Row) -> Episode:
        onset = None if r["offset_s"] is None else to_datetime(r["offset_s"] + r["onset_ms"] / 1000.0)
        return Episode(
            id=r["id"], band=r["band"], boot=r["boot"] & 0xFFFF, onset_ms=r["onset_ms"], onset=onset,
            duration_s=r["dur_ms"] / 1000.0, freq_hz=r["freq_chz"] / 100.0, f_start_hz=r["f_start_chz"] / 100.0,
            f_end_hz=r["f_end_chz"] / 100.0, rhythm=r["rhythm"] / 1024.0, amp_mg=r["amp_mg"],
            drift_hz=r["drift_chz"] / 100.0, open=not r["closed"], max_level=r["max_level"],
        )

    def episode(self, episode_id: int) -> Episode:
        row = self.db.execute(self._EPISODE_SQL + " WHERE p.id = ?", (int(episode_id),)).fetchone()
        if row is None:
            raise KeyError(f"no episode {episode_id} in the log {self.path}")
        return self._episode(row)

    def episode_id(self, band_id: str, boot: int, onset_ms: int) -> int | None:
        row = self.db.execute(
            "SELECT id FROM episodes WHERE band = ? AND boot = ? AND onset_ms = ?",
            (band_id, self._key(band_id, boot), onset_ms),
        ).fetchone()
        return None if row is None else int(row[0])

    def episodes(self, since: datetime | float | None = None, until: datetime | float | None = None, *,
                 band_id: str | None = None, min_level: str | None = None) -> list[Episode]:
        """Episodes whose onset (wall clock) is in [since, until), oldest first."""
        where, args = self._where(since, until, band_id, "(b.offset_s + p.onset_ms / 1000.0)", "p.band")
        if min_level is not None:
            levels = ALARM_LEVELS[ALARM_LEVELS.index(min_level):]
            where.append(f"p.max_level IN ({', '.join('?' * len(levels))})")
            args += list(levels)
        sql = self._EPISODE_SQL + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY (b.offset_s + p.onset_ms / 1000.0), p.id"
        return [self._episode(r) for r in self.db.execute(sql, args)]

    def episodes_since(self, dt: datetime | float) -> list[Episode]:
        return self.episodes(since=dt)

    # -- alarms and faults ----------------------------------------------------------

    def add_alarm(self, level: str, raised_at: float | datetime, *, band_id: str | None = None, code: str | None = None,
                  message: str = "", boot: int | None = None, t_ms: int | None = None, onset_ms: int | None = None,
                  episode_id: int | None = None, sounded: str | None = None) -> int:
        """Log an alarm (episode levels: notice/alarm/escalation) or a fault (level 'fault' or 'warning').

        An episode alarm names its episode by episode_id or by (band_id, boot, onset_ms); the episode's
        max_level is raised to it.
        """
        if level not in (*ALARM_LEVELS, "clear", FAULT, "warning"):
            raise ValueError(f"unknown alarm level {level!r}")
        code = code or level
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if episode_id is None and onset_ms is not None and band_id is not None and boot is not None:
                episode_id = self.episode_id(band_id, boot, onset_ms)
            cur = db.execute(
                "INSERT INTO alarms (band, level, code, message, raised_at, episode_id, boot, t_ms, sounded) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (band_id, level, code, message, to_epoch(raised_at), episode_id, boot, t_ms, sounded),
            )
            if episode_id is not None and level in ALARM_LEVELS:
                row = db.execute("SELECT max_level FROM episodes WHERE id = ?", (episode_id,)).fetchone()
                if row is not None and (row[0] is None or ALARM_LEVELS.index(level) > ALARM_LEVELS.index(row[0])):
                    db.execute("UPDATE episodes SET max_level = ? WHERE id = ?", (level, episode_id))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def ack_alarms(self, ids: Iterable[int], at: float | datetime, by: str = "key") -> int:
        ids = list(ids)
        if not ids:
            return 0
        cur = self.db.execute(
            f"UPDATE alarms SET acked_at = ?, acked_by = ? WHERE acked_at IS NULL AND id IN ({', '.join('?' * len(ids))})",
            (to_epoch(at), by, *ids),
        )
        return cur.rowcount

    def end_alarm(self, alarm_id: int, at: float | datetime) -> None:
        self.db.execute("UPDATE alarms SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (to_epoch(at), alarm_id))

    def set_sounded(self, alarm_id: int, how: str) -> None:
        self.db.execute("UPDATE alarms SET sounded = ? WHERE id = ?", (how, alarm_id))

    @staticmethod
    def _alarm(r: sqlite3.Row) -> Alarm:
        return Alarm(
            id=r["id"], band=r["band"], level=r["level"], code=r["code"], message=r["message"],
            raised_at=to_datetime(r["raised_at"]), episode_id=r["episode_id"], boot=r["boot"],  # type: ignore[arg-type]
            t_ms=r["t_ms"], acked_at=to_datetime(r["acked_at"]), acked_by=r["acked_by"],
            ended_at=to_datetime(r["ended_at"]), sounded=r["sounded"],
        )

    def alarms(self, since: datetime | float | None = None, until: datetime | float | None = None, *,
               band_id: str | None = None, faults: bool | None = None, unacked: bool = False) -> list[Alarm]:
        """Alarms raised in [since, until), oldest first. faults=True: only faults; False: only episode alarms."""
        where, args = self._where(since, until, band_id, "raised_at", "band")
        if faults is not None:
            where.append("level NOT IN (?, ?, ?, 'clear')" if faults else "level IN (?, ?, ?)")
            args += list(ALARM_LEVELS)
        if unacked:
            where.append("acked_at IS NULL")
        sql = "SELECT * FROM alarms" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY raised_at, id"
        return [self._alarm(r) for r in self.db.execute(sql, args)]

    def faults(self, since: datetime | float | None = None, until: datetime | float | None = None, *,
               band_id: str | None = None) -> list[Period]:
        """Fault periods (no data, band off, battery, log not writable, resets, ...) raised in [since, until)."""
        out = []
        for a in self.alarms(since, until, band_id=band_id, faults=True):
            out.append(Period(a.code, a.raised_at, a.ended_at, a.message, {"alarm_id": a.id, "level": a.level}))
        return out

    def gaps(self, since: datetime | float | None = None, until: datetime | float | None = None, *,
             band_id: str | None = None, min_s: float = 30.0) -> list[Period]:
        """Stretches longer than min_s in which the host received nothing from the band.

        Computed from receive times, so it also covers hours when no monitor was running. A gap still
        going at `until` (or now) is reported with end None.
        """
        where, args = self._where(since, until, band_id, "received_at", "band")
        sql = "SELECT DISTINCT received_at FROM events" + (" WHERE " + " AND ".join(where) if where else "")
        times = [r[0] for r in self.db.execute(sql + " ORDER BY received_at", args)]
        out = []
        start = to_epoch(since)
        prev = start if start is not None else (times[0] if times else None)
        for t in times:
            if prev is not None and t - prev > min_s:
                out.append(Period("no_data", to_datetime(prev), to_datetime(t), f"nothing received for {t - prev:.0f} s"))  # type: ignore[arg-type]
            prev = t
        end = to_epoch(until)
        if end is None:
            end = time.time()
        if prev is not None and end - prev > min_s:
            out.append(Period("no_data", to_datetime(prev), None if until is None else to_datetime(end),  # type: ignore[arg-type]
                              f"nothing received for {end - prev:.0f} s"))
        return out

    def band_off(self, since: datetime | float | None = None, until: datetime | float | None = None, *,
                 band_id: str | None = None) -> list[Period]:
        """Stretches in which the band's STATUS said it was not worn (band clock mapped to wall time)."""
        out: list[Period] = []
        start: datetime | None = None
        for le in self.events(since, until, band_id=band_id, kinds=["status"]):
            worn = le.event.fields.get("worn", 1)
            if not worn and start is None:
                start = le.at or le.received_at
            elif worn and start is not None:
                out.append(Period("not_worn", start, le.at or le.received_at, "band not worn"))
                start = None
        if start is not None:
            out.append(Period("not_worn", start, None, "band not worn"))
        return out

    def battery(self, since: datetime | float | None = None, until: datetime | float | None = None, *,
                band_id: str | None = None) -> list[tuple[datetime, int, int]]:
        """(time, battery_pct, battery_mv) from STATUS events, oldest first."""
        return [
            (le.at or le.received_at, le.event.fields.get("battery_pct", 0), le.event.fields.get("battery_mv", 0))
            for le in self.events(since, until, band_id=band_id, kinds=["status"])
        ]

    # -- triage -------------------------------------------------------------------

    def save_triage(self, episode_id: int, answers: dict[str, Any], result: dict[str, Any],
                    saved_at: float | datetime | None = None) -> int:
        self.episode(episode_id)  # KeyError with a clear text if there is no such episode
        cur = self.db.execute(
            "INSERT INTO triage (episode_id, saved_at, answers, result) VALUES (?, ?, ?, ?)",
            (int(episode_id), to_epoch(saved_at) or time.time(), json.dumps(answers, sort_keys=True),
             json.dumps(result, sort_keys=True)),
        )
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def triage_for(self, episode_id: int) -> dict[str, Any] | None:
        """The latest triage saved for the episode: {"answers", "result", "saved_at"}, or None."""
        row = self.db.execute(
            "SELECT * FROM triage WHERE episode_id = ? ORDER BY saved_at DESC, id DESC LIMIT 1", (int(episode_id),)
        ).fetchone()
        if row is None:
            return None
        return {"answers": json.loads(row["answers"]), "result": json.loads(row["result"]),
                "saved_at": to_datetime(row["saved_at"])}

    # -- monitor sessions and requests (`anklet ack` talks to a running monitor through the log) ---------------

    def start_session(self, at: float, pid: int | None = None) -> tuple[int, dict[str, Any] | None]:
        """Open a monitor session; also return the previous one if it did not end cleanly."""
        prev = self.db.execute("SELECT * FROM sessions ORDER BY id DESC LIMIT 1").fetchone()
        unclean = None
        if prev is not None and prev["ended_at"] is None:
            unclean = {"id": prev["id"], "started_at": to_datetime(prev["started_at"]), "alive_at": to_datetime(prev["alive_at"])}
        cur = self.db.execute("INSERT INTO sessions (started_at, alive_at, pid) VALUES (?, ?, ?)", (at, at, pid))
        return int(cur.lastrowid), unclean  # type: ignore[arg-type]

    def session_alive(self, session_id: int, at: float) -> None:
        self.db.execute("UPDATE sessions SET alive_at = ? WHERE id = ?", (at, session_id))

    def end_session(self, session_id: int, at: float, note: str = "") -> None:
        self.db.execute("UPDATE sessions SET ended_at = ?, alive_at = ?, note = ? WHERE id = ?", (at, at, note, session_id))

    def running_session(self, now: float, stale_s: float = 15.0) -> dict[str, Any] | None:
        """The monitor session that is alive now (heartbeat within stale_s), if any."""
        row = self.db.execute("SELECT * FROM sessions WHERE ended_at IS NULL ORDER BY id DESC LIMIT 1").fetchone()
        if row is None or now - row["alive_at"] > stale_s:
            return None
        return {"id": row["id"], "pid": row["pid"], "alive_at": to_datetime(row["alive_at"])}

    def request(self, action: str, at: float, *, mute_s: float | None = None, source: str = "cli") -> int:
        cur = self.db.execute("INSERT INTO requests (made_at, action, mute_s, source) VALUES (?, ?, ?, ?)",
                              (at, action, mute_s, source))
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def take_requests(self, at: float) -> list[dict[str, Any]]:
        """Pending requests, marked handled."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = db.execute("SELECT * FROM requests WHERE handled_at IS NULL ORDER BY id").fetchall()
            if rows:
                db.execute("UPDATE requests SET handled_at = ? WHERE handled_at IS NULL", (at,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return [dict(r) for r in rows]


def _statements(script: str) -> list[str]:
    """Split a migration into statements (execute() runs one; executescript() would commit our transaction)."""
    out, buf = [], ""
    for line in script.splitlines():
        line = line.split("--", 1)[0]
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL in migration: {buf.strip()[:60]}")
    return out
