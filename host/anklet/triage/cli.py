"""`anklet triage`: the questions in the terminal, or an answers file evaluated to JSON.

    anklet triage                              ask the questions now (no band data)
    anklet triage 12 --db night.db             about episode 12 of the log: band data filled in, answers saved
    anklet triage last                         about the episode just lived through: the latest that raised an
                                               ALARM (or a later one still going; with no alarm, the latest)
    anklet triage 12 --db night.db --show      the triage saved with episode 12
    anklet triage --answers answers.json --json
    anklet triage --rules-table                the rule and coverage tables (docs/triage.md)
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any, TextIO

from anklet.cli import CliError
from anklet.privfile import write_private

from . import render
from .band import describe, from_store, latest_episode, short_name
from .engine import default_book, evaluate
from .interactive import interview
from .schema import TriageInputError, nest, normalise


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "triage", help="walk through what the source documents say about an episode; plain advice at the end",
        description="Ask about an episode (or read the answers from a file) and say how quickly to get medical "
                    "help, with the reasons and their sources. This is not a diagnosis.",
    )
    p.add_argument("episode", nargs="?", metavar="EPISODE",
                   help="an episode id from the log, or 'last': the latest episode that raised an ALARM (or a later "
                        "one still going; with no alarm, the latest). Its band data are filled in and the answers "
                        "saved with it")
    p.add_argument("--db", help="the log (default: $ANKLET_DB or ~/.local/share/anklet/anklet.db)")
    p.add_argument("--answers", metavar="FILE.json", help="read the answers from a file ('-' = stdin) instead of "
                   "asking; schema in docs/triage.md")
    p.add_argument("--baby", metavar="FILE.json", help="the baby's details ({\"age_weeks\" or \"date_of_birth\", "
                   "\"premature\", ...}) so they are not asked")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", metavar="FILE.json", help="also write {\"answers\", \"result\"} to this file")
    p.add_argument("--show", action="store_true", help="show the triage saved with EPISODE instead of asking again")
    p.add_argument("--rules-table", action="store_true", help="print the rule and coverage tables as Markdown")
    p.set_defaults(func=run)


def _read_json(path: str, what: str, stdin: TextIO) -> Any:
    try:
        if path == "-":
            return json.load(stdin)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise CliError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise CliError(f"the {what} {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") \
            from exc
    except UnicodeDecodeError:
        raise CliError(f"the {what} {path} is not UTF-8 JSON text") from None
    except RecursionError:
        raise CliError(f"the {what} {path} is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise CliError(f"the {what} {path} holds a value anklet cannot read: {exc}") from None


def _episode_id(store: Any, text: str) -> int:
    if text == "last":
        ep = latest_episode(store.episodes())
        if ep is None:
            raise KeyError(f"no episode in the log {store.path} yet")
        return int(ep.id)
    try:
        return int(text)
    except ValueError:
        raise CliError(f"EPISODE must be an episode id (a number) or 'last', not {text!r}") from None


def _merge(answers: dict[str, Any], section: str, values: dict[str, Any]) -> None:
    """Fill `answers[section]` with `values` where the answers leave them missing or unknown."""
    sec = answers.setdefault(section, {})
    if not isinstance(sec, dict):
        raise CliError(f"{section}: expected an object, got {sec!r}")
    for k, v in values.items():
        if sec.get(k) in (None, "unknown"):
            sec[k] = v


def _open_episode(args: argparse.Namespace) -> tuple[Any, Any, int, dict[str, Any]]:
    """(store, episode, episode id, its "episode" answers) for the EPISODE argument."""
    try:
        from anklet.store import Store, StoreError, default_db_path
    except ImportError as exc:  # the log is another module; say so rather than crash
        raise CliError(f"the event log is not available in this build ({exc}); use --answers") from exc
    path = Path(args.db) if args.db else default_db_path()
    if not path.exists():  # asking about an episode never creates a log (nor its folder)
        raise CliError(f"no log at {path} (has `anklet monitor` run? use --db PATH)")
    try:
        store = Store(path, readonly=bool(getattr(args, "show", False)))
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    try:
        episode_id = _episode_id(store, args.episode)
        ep, band = from_store(store, episode_id)
    except KeyError as exc:
        store.close()
        raise CliError(str(exc.args[0]) if exc.args else f"no episode {args.episode}") from exc
    except BaseException:
        store.close()
        raise
    return store, ep, episode_id, band


def _evaluate(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, band: dict[str, Any], ep: Any,
              book: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(clean inputs, result) from the answers file, or from the questions."""
    today = getattr(ep, "onset", None)
    try:
        baby = _read_json(args.baby, "baby file", stdin) if args.baby else {}
        if isinstance(baby, dict) and isinstance(baby.get("baby"), dict):
            baby = baby["baby"]
        if not isinstance(baby, dict):
            raise CliError(f"the baby file {args.baby} must hold a JSON object")
        if args.answers:
            answers = _read_json(args.answers, "answers file", stdin)
            if not isinstance(answers, dict):
                raise CliError(f"the answers file {args.answers} must hold a JSON object with baby, episode and "
                               f"observations, not {type(answers).__name__}")
            _merge(answers, "episode", band)
            _merge(answers, "baby", baby)
            inputs = normalise(answers, today)
            return inputs, evaluate(inputs, book)
        known = normalise({"episode": band, "baby": baby}, today)
        # with --json the questions go to stderr so that stdout holds only the JSON
        return interview(stdin, sys.stderr if args.json else stdout, known=known, today=today, book=book,
                         show_result=not args.json, about=describe(ep) if ep is not None else None,
                         tag=short_name(ep) if ep is not None else None)
    except TriageInputError as exc:
        raise CliError(f"{args.answers or args.baby}: {exc}") from exc


def run(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    book = default_book()
    if args.rules_table:
        stdout.write(render.levels_table(book) + "\n" + render.rules_table(book) + "\n" + render.coverage_table())
        return 0
    if args.episode is None:
        if args.db:
            raise CliError("--db needs an EPISODE id (or 'last')")
        store = ep = episode_id = None
        band: dict[str, Any] = {}
    else:
        store, ep, episode_id, band = _open_episode(args)
    if args.show:
        if store is None:
            raise CliError("--show needs an EPISODE id (or 'last')")
        try:
            saved_triage = store.triage_for(episode_id)
        finally:
            store.close()
        if saved_triage is None:
            db = f" --db {shlex.quote(args.db)}" if args.db else ""
            raise CliError(f"no triage saved for episode {episode_id} yet; run `anklet triage {episode_id}{db}`")
        if args.json:
            json.dump({"answers": saved_triage["answers"], "result": saved_triage["result"],
                       "saved_at": saved_triage["saved_at"].isoformat()}, stdout, indent=2, ensure_ascii=False)
            stdout.write("\n")
        else:
            stdout.write(f"Triage of episode {episode_id}, saved {saved_triage['saved_at']:%Y-%m-%d %H:%M}:\n")
            stdout.write(render.text(saved_triage["result"]))
        return 0
    try:
        inputs, result = _evaluate(args, stdin, stdout, band, ep, book)
        # The advice first: a failure to save must not keep it from the parents.
        if args.json:
            json.dump(result, stdout, indent=2, ensure_ascii=False)
            stdout.write("\n")
        elif args.answers:
            stdout.write(render.text(result))
        stdout.flush()
        saved, errors = nest(inputs), []
        if store is not None:
            try:
                store.save_triage(episode_id, saved, result)
            except Exception as exc:  # sqlite or the log's own errors: report, the advice is already shown
                errors.append(f"the answers could not be saved in the log: {exc}")
        if args.out:
            try:
                def write(f: Any) -> None:
                    json.dump({"answers": saved, "result": result}, f, indent=2, ensure_ascii=False)
                    f.write("\n")

                write_private(args.out, write)  # 0600 like the log
            except OSError as exc:
                errors.append(f"cannot write {args.out}: {exc.strerror or exc}")
        if errors:
            raise CliError("; ".join(errors))
    finally:
        if store is not None:
            store.close()
    return 0
