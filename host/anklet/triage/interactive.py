"""The questions in the terminal: asked after an alarm, or on demand with `anklet triage`.

Everything goes through the `inp`/`out` streams it is given, so tests (and the monitor) drive it directly.
The most urgent questions come first; as soon as the answers make it an emergency, the call-now advice is
printed before any further question. End of input stops the questions: what is unanswered stays unknown,
which never lowers the level.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TextIO

from . import render
from .engine import evaluate
from .rules import RuleBook
from .schema import FIELDS, STATES, Field, TriageInputError, age_weeks_from_birth, convert, empty

YES = {"y", "yes"}
NO = {"n", "no"}
DONT_KNOW = {"", "?", "u", "unknown", "dk", "don't know", "dont know", "not sure"}
STATE_CHOICES = [s for s in STATES if s != "unknown"]
MAX_TRIES = 5


class _EndOfInput(Exception):
    pass


def _readline(inp: TextIO) -> str:
    line = inp.readline()
    if line == "":
        raise _EndOfInput
    return line.strip()


def _parse(fld: Field, raw: str, today: date | datetime | None) -> Any:
    low = raw.lower()
    if low in DONT_KNOW:
        return None
    if fld.type == "answer":
        if low in YES:
            return "yes"
        if low in NO:
            return "no"
        raise TriageInputError("please answer y (yes), n (no) or ? (don't know)")
    if fld.type == "state":
        if low.isdigit() and 1 <= int(low) <= len(STATE_CHOICES):
            return STATE_CHOICES[int(low) - 1]
        return convert(fld, low.replace(" ", "_"), "answer")
    if fld.key == "baby.age_weeks" and "-" in raw.strip("-"):
        return age_weeks_from_birth(raw, today, "date of birth")
    try:
        value = float(raw)
    except ValueError:
        raise TriageInputError(f"please type a number{' of ' + fld.unit if fld.unit else ''}, "
                               "or ? if you don't know") from None
    return convert(fld, int(value) if fld.type == "count" and value == int(value) else value, "answer")


def _prompt(fld: Field) -> str:
    if fld.type == "answer":
        hint = "[y/n/?]"
    elif fld.type == "state":
        hint = "[" + " ".join(f"{i}={s.replace('_', ' ')}" for i, s in enumerate(STATE_CHOICES, 1)) + " ?=don't know]"
    else:
        hint = f"[{fld.unit}, ?=don't know]" if fld.unit else "[number, ?=don't know]"
    return f"{fld.question} {hint} "


def interview(inp: TextIO, out: TextIO, *, known: dict[str, Any] | None = None,
              today: date | datetime | None = None, book: RuleBook | None = None,
              show_result: bool = True, about: str | None = None,
              tag: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ask every question not already known; return (clean flat inputs, result).

    `known`: clean flat inputs already settled (from the band, or a saved baby profile); they are not asked.
    `about`: a sentence naming the episode (band.describe), said first; `tag`: a few words naming it
    (band.short_name), repeated on every question so that nobody answers about the wrong episode.
    """
    inputs = empty()
    inputs.update({k: v for k, v in (known or {}).items() if k in inputs})
    out.write("anklet triage: a few questions about the episode. Answer y (yes), n (no) or ? (don't know).\n"
              "Unknown answers never make the advice less cautious.\n")
    if about:
        out.write(f"About: {about}\n")
    out.flush()
    told_emergency = False

    def tell_if_emergency() -> bool:
        """Print the call-now advice the first time the answers make it an emergency; False = stop asking."""
        nonlocal told_emergency
        if told_emergency:
            return True
        now = evaluate(inputs, book)
        if now["level"] != "emergency":
            return True
        told_emergency = True
        out.write("\n" + "!" * 60 + "\n" + now["headline"] + "\n")
        for line in now["advice"][:3]:
            out.write(f"  {line}\n")
        out.write("!" * 60 + "\n")
        out.write("Keep answering so the log is complete? [y/n] ")
        out.flush()
        return _readline(inp).lower() in YES

    try:
        todo = [f for f in FIELDS.values() if f.ask and inputs.get(f.key) is None]
        if not tell_if_emergency():
            todo = []
        for fld in todo:
            for attempt in range(MAX_TRIES):
                out.write(f"({tag}) " + _prompt(fld) if tag else _prompt(fld))
                out.flush()
                raw = _readline(inp)
                try:
                    inputs[fld.key] = _parse(fld, raw, today)
                    break
                except TriageInputError as exc:
                    out.write(f"  {exc}\n")
                    if attempt == MAX_TRIES - 1:
                        out.write("  (left as don't know)\n")
            if not tell_if_emergency():
                break
    except _EndOfInput:
        out.write("\n(no more answers: the rest stay unknown)\n")
    result = evaluate(inputs, book)
    if show_result:
        out.write("\n" + render.text(result))
        out.flush()
    return inputs, result
