"""`anklet log`, `anklet export`, `anklet ack`: read the night log, write it out, acknowledge alarms.

`anklet ack` works from any terminal: it leaves a request in the log, which a running
monitor picks up within a second (it polls the log every tick). If no monitor is
running, the unacknowledged alarms are marked acknowledged in the log directly.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from .cli import CliError
from .monitor import check_mute_s
from .privfile import write_private
from .report import edf
from .store import Store, StoreError, default_db_path
from .timeparse import FORMS, TimeError, parse_time

EVENT_COLUMNS = ("id", "band", "boot", "seq", "kind", "t_ms", "at", "received_at", "fields")
ALARM_COLUMNS = ("id", "band", "level", "code", "message", "raised_at", "episode_id", "boot", "t", "acked_at",
                 "acked_by", "ended_at", "sounded")
EPISODE_COLUMNS = ("id", "band", "boot", "onset", "onset_ms", "duration_s", "freq_hz", "f_start_hz", "f_end_hz",
                   "rhythm", "amp_mg", "drift_hz", "open", "max_level")


def parse_when(text: str | None, now: float | None = None, opt: str = "--since/--until") -> datetime | None:
    """A time typed on the command line (anklet.timeparse forms, local time by default), or None."""
    if text is None:
        return None
    try:
        return parse_time(text, now)
    except TimeError as exc:
        raise CliError(f"{opt}: {exc}") from None


def _open(path: str | None, must_exist: bool = True, readonly: bool = False) -> Store:
    """The log; `readonly` for commands that only read it (never writes, works while the monitor writes)."""
    p = Path(path) if path else default_db_path()
    if must_exist and not p.exists():
        raise CliError(f"no log at {p} (has `anklet monitor` run? use --db PATH)")
    try:
        return Store(p, readonly=readonly)
    except StoreError as exc:
        raise CliError(str(exc)) from exc


def _add_common(p: Any) -> None:
    p.add_argument("--db", help="the log (default: $ANKLET_DB or ~/.local/share/anklet/anklet.db)")
    p.add_argument("--since", help=f"from this time: {FORMS} (default: everything)")
    p.add_argument("--until", help="up to this time (same forms)")
    p.add_argument("--band", help="only this band")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("log", help="list logged events, episodes and alarms",
                              description="List what the monitor logged: events, episodes, alarms and faults, oldest first.")
    _add_common(p)
    p.add_argument("--what", choices=("all", "events", "episodes", "alarms"), default="all")
    p.add_argument("--kind", action="append", help="only events of this kind (start, update, end, activity, boot, "
                                                   "dropped, status); repeatable")
    p.add_argument("--limit", type=int, help="only the latest N events")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_log)

    p = subparsers.add_parser("export", help="write the log as CSV or JSON",
                              description="Write events, episodes or alarms to a CSV or JSON file (or stdout with -).")
    _add_common(p)
    p.add_argument("out", nargs="?", help="output file (.csv or .json), or - for stdout (optional with --edf)")
    p.add_argument("--format", choices=("csv", "json"), help="default: from the file name")
    p.add_argument("--what", choices=("all", "events", "episodes", "alarms"), default=None,
                   help="what to export (default: all for JSON, events for CSV; CSV takes one table)")
    edf.add_arguments(p)  # --edf FILE.edf --raw PATH: raw recordings as EDF+ (anklet.report.edf)
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("ack", help="acknowledge the sounding alarms (and mute them)",
                              description="Acknowledge every active alarm of the running monitor and mute it; alarms "
                                          "still present sound again when the mute ends. A new episode always alarms.")
    p.add_argument("--db", help="the log (default: $ANKLET_DB or ~/.local/share/anklet/anklet.db)")
    p.add_argument("--mute-min", type=float, default=5.0, help="minutes before still-present alarms sound again (default 5, 0 to 60)")
    p.set_defaults(func=cmd_ack)


def _rows(store: Store, args: Any, what: str) -> list[dict[str, Any]]:
    since, until = parse_when(args.since, opt="--since"), parse_when(args.until, opt="--until")
    if what == "events":
        kinds = getattr(args, "kind", None)
        limit = getattr(args, "limit", None)
        return [e.to_json() for e in store.events(since, until, band_id=args.band, kinds=kinds, limit=limit)]
    if what == "episodes":
        return [e.to_json() for e in store.episodes(since, until, band_id=args.band)]
    if what == "alarms":
        return [a.to_json() for a in store.alarms(since, until, band_id=args.band)]
    raise ValueError(what)


def _event_line(r: dict[str, Any]) -> str:
    at = (r["at"] or r["received_at"])[:19].replace("T", " ")
    fields = " ".join(f"{k}={v}" for k, v in r["fields"].items())
    return f"{at}  {r['band']} boot {r['boot']} #{r['seq']:<6} {r['kind']:<8} t={r['t_ms'] / 1000:.0f}s  {fields}"


def _episode_line(r: dict[str, Any]) -> str:
    at = (r["onset"] or "?")[:19].replace("T", " ")
    state = "OPEN" if r["open"] else "ended"
    level = (r["max_level"] or "no alarm").upper()
    return (f"{at}  episode {r['id']}: {r['duration_s']:.0f} s, {r['freq_hz']:.1f} Hz "
            f"({r['f_start_hz']:.1f} -> {r['f_end_hz']:.1f}), rhythm {r['rhythm']:.2f}, {r['amp_mg']} mg, {state}, {level}")


def _alarm_line(r: dict[str, Any]) -> str:
    at = r["raised_at"][:19].replace("T", " ")
    extra = []
    if r["acked_at"]:
        extra.append(f"acknowledged {r['acked_at'][11:19]} ({r['acked_by']})")
    if r["ended_at"]:
        extra.append(f"ended {r['ended_at'][11:19]}")
    if r["sounded"]:
        extra.append(f"sound: {r['sounded']}")
    tail = f"  [{'; '.join(extra)}]" if extra else ""
    return f"{at}  {r['level'].upper():<10} {r['code']:<16} {r['message']}{tail}"


def cmd_log(args: Any) -> int:
    store = _open(args.db, readonly=True)
    try:
        parts = ("episodes", "alarms", "events") if args.what == "all" else (args.what,)
        out = sys.stdout
        for what in parts:
            rows = _rows(store, args, what)
            if args.json:
                for r in rows:
                    out.write(json.dumps({"type": what[:-1], **r}) + "\n")
                continue
            if len(parts) > 1:
                out.write(f"== {what} ({len(rows)}) ==\n")
            fmt = {"events": _event_line, "episodes": _episode_line, "alarms": _alarm_line}[what]
            for r in rows:
                out.write(fmt(r) + "\n")
            if not rows and len(parts) == 1:
                out.write(f"no {what} in the log\n")
    finally:
        store.close()
    return 0


def _csv_value(v: Any) -> Any:
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    if v is None:
        return ""
    return v


def cmd_export(args: Any) -> int:
    if args.edf:
        with _open(args.db, readonly=True) as store:
            edf.export_cmd(args, store, parse_when(args.since, opt="--since"), parse_when(args.until, opt="--until"))
        if args.out is None:
            return 0
    if args.out is None:
        raise CliError("give an output file (.csv or .json, or - for stdout), or --edf FILE.edf")
    fmt = args.format or ("json" if args.out.endswith(".json") else "csv" if args.out.endswith(".csv") else None)
    if fmt is None:
        raise CliError("cannot tell the format from the file name: use --format csv or --format json")
    what = args.what or ("all" if fmt == "json" else "events")
    if fmt == "csv" and what == "all":
        raise CliError("CSV holds one table: choose --what events, episodes or alarms")
    store = _open(args.db, readonly=True)
    try:
        if what == "all":
            data: Any = {w: _rows(store, args, w) for w in ("events", "episodes", "alarms")}
        else:
            data = _rows(store, args, what)
    finally:
        store.close()
    def write(fh: Any) -> None:
        if fmt == "json":
            json.dump(data, fh, indent=1)
            fh.write("\n")
        else:
            cols = {"events": EVENT_COLUMNS, "episodes": EPISODE_COLUMNS, "alarms": ALARM_COLUMNS}[what]
            w = csv.writer(fh)
            w.writerow(cols)
            for r in data:
                w.writerow([_csv_value(r.get(c)) for c in cols])

    out = sys.stdout if args.out == "-" else None
    if out is not None:
        write(out)
    else:
        try:
            write_private(args.out, write)  # 0600 like the log; a full disk leaves no truncated file
        except OSError as exc:
            raise CliError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    if out is None:
        n = sum(len(v) for v in data.values()) if isinstance(data, dict) else len(data)
        print(f"wrote {n} rows to {args.out}", file=sys.stderr)
    return 0


def cmd_ack(args: Any) -> int:
    store = _open(args.db)
    now = time.time()
    try:
        try:
            check_mute_s(args.mute_min * 60)
        except ValueError as exc:
            raise CliError(f"--mute-min {args.mute_min:g}: {exc}") from None
        running = store.running_session(now)
        if running is not None:
            store.request("ack", now, mute_s=args.mute_min * 60, source="cli")
            print(f"acknowledged: the running monitor (pid {running['pid']}) silences its alarms and mutes them "
                  f"for {args.mute_min:g} min; a new episode still alarms")
            return 0
        pending = store.alarms(unacked=True)
        n = store.ack_alarms([a.id for a in pending], now, by="cli")
        print(f"no monitor is running: the band is NOT being watched. Marked {n} alarm(s) acknowledged in the log.")
        return 1
    finally:
        store.close()
