"""`anklet report`: the night report as a self-contained HTML file (and a PDF with --pdf)."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ..cli import CliError
from ..store import Store, StoreError, default_db_path
from ..timeparse import TimeError, parse_day

MAX_NIGHTS = 92


def _day(text: str, opt: str) -> date:
    try:
        return parse_day(text)
    except TimeError as exc:
        raise CliError(f"{opt}: {exc} (the date of the evening)") from None


def nights_from_args(args: Any, store: Store) -> list[date]:
    from .data import latest_night

    if args.night and (args.from_ or args.to):
        raise CliError("give either --night or --from/--to, not both")
    if args.to and not args.from_:
        raise CliError("--to needs --from")
    if args.night:
        return [_day(args.night, "--night")]
    latest = latest_night(store)
    if args.from_:
        first = _day(args.from_, "--from")
        last = _day(args.to, "--to") if args.to else latest
        if last is None:
            raise CliError("the log is empty: give --to as well")
        if last < first:
            raise CliError(f"--to {last} is before --from {first}")
        n = (last - first).days + 1
        if n > MAX_NIGHTS:
            raise CliError(f"{n} nights is too many for one report (at most {MAX_NIGHTS}); choose a shorter range")
        return [first + timedelta(days=i) for i in range(n)]
    if latest is None:
        raise CliError("the log holds nothing yet (has `anklet monitor` run?); give --night DATE to report an "
                       "empty night anyway")
    return [latest]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report", help="write the night report (HTML, optionally PDF) for parents and the doctor",
        description="Write a self-contained HTML report of one night or a range of nights: a timeline with "
                    "every episode and every gap in monitoring, one panel per episode (with the raw signal "
                    "where a recording covers it, and the triage answers), trends across nights, and the "
                    "record-keeping checklist of the source documents. A night runs from noon to noon and is "
                    "named by the date of its evening.")
    p.add_argument("--db", help="the log (default: $ANKLET_DB or ~/.local/share/anklet/anklet.db)")
    p.add_argument("--night", metavar="DATE", help="the night starting on the evening of DATE (YYYY-MM-DD); "
                                                   "default: the latest night in the log")
    p.add_argument("--from", dest="from_", metavar="DATE", help="first night of a range")
    p.add_argument("--to", metavar="DATE", help="last night of a range (default: the latest night in the log)")
    p.add_argument("--out", required=True, metavar="FILE.html", help="the HTML file to write")
    p.add_argument("--pdf", nargs="?", const=True, default=None, metavar="FILE.pdf",
                   help="also write a PDF (default name: the HTML file's with .pdf)")
    p.add_argument("--raw", action="append", default=[], metavar="PATH",
                   help="raw recordings (trace CSV files or directories of them; FILE@TIME gives a file's start "
                        "time); repeatable. See docs/reports.md for how a recording is placed on the clock")
    p.set_defaults(func=cmd_report)


def cmd_report(args: Any) -> int:
    from . import make_report
    from .raw import RawError

    db = Path(args.db) if args.db else default_db_path()
    if not db.exists():
        raise CliError(f"no log at {db} (has `anklet monitor` run? use --db PATH)")
    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise CliError(f"--out {out}: the report is HTML; name the file .html")
    pdf = None
    if args.pdf is not None:
        pdf = out.with_suffix(".pdf") if args.pdf is True else Path(args.pdf)
        if pdf.suffix.lower() != ".pdf":
            raise CliError(f"--pdf {pdf}: name the file .pdf")
    try:
        store = Store(db, readonly=True)  # reads only: works while the monitor writes
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    try:
        days = nights_from_args(args, store)
        try:
            summary = make_report(store, days, out, pdf_path=pdf, raw_specs=args.raw)
        except RawError as exc:
            raise CliError(str(exc)) from exc
        except OSError as exc:
            raise CliError(f"cannot write the report: {exc}") from exc
    finally:
        store.close()
    for w in summary["warnings"]:  # type: ignore[attr-defined]
        print(f"anklet: warning: {w}", file=sys.stderr)
    nights = summary["nights"]
    print(f"wrote {out}" + (f" and {pdf}" if pdf else "") + f": {nights} night{'s' if nights != 1 else ''}, "
          f"{summary['episodes']} episode(s), {summary['gaps']} gap(s) in monitoring"
          + (f", {summary['empty_nights']} night(s) with no data" if summary["empty_nights"] else ""))
    return 0
