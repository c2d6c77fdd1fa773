"""The inputs the triage understands, and turning a parent's answers file into clean values.

The field list lives in ``questions.json`` (next to this file) so that a reviewer sees every question in one
place. Clean inputs are a flat dict ``{"observations.stiffness": "yes", "episode.duration_s": 42.0, ...}`` with
``None`` for unknown. Anything malformed raises TriageInputError naming the key and what it accepts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any

ANSWERS = ("yes", "no", "unknown")
SECTIONS = ("baby", "episode", "observations")
# Top-level keys allowed beside the sections (ignored by the rules, kept with the answers).
EXTRA_TOP = ("episode_id", "notes", "answered_at")


class TriageInputError(ValueError):
    """The answers are malformed; the message names the key and what it accepts."""


@dataclass(frozen=True)
class Field:
    key: str  # "section.name"
    type: str  # answer | state | number | count
    question: str = ""
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    ask: bool = True

    @property
    def section(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[1]


def _load() -> tuple[dict[str, Field], tuple[str, ...]]:
    raw = json.loads(resources.files(__package__).joinpath("questions.json").read_text(encoding="utf-8"))
    fields: dict[str, Field] = {}
    for f in raw["fields"]:
        fld = Field(f["key"], f["type"], f.get("question", ""), f.get("unit", ""), f.get("min"), f.get("max"),
                    f.get("ask", True))
        if fld.section not in SECTIONS or fld.type not in ("answer", "state", "number", "count"):
            raise RuntimeError(f"questions.json: bad field {f}")
        if fld.type in ("number", "count") and (fld.lo is None or fld.hi is None):
            raise RuntimeError(f"questions.json: {fld.key} needs min and max")
        if fld.ask and not fld.question:
            raise RuntimeError(f"questions.json: {fld.key} is asked but has no question")
        fields[fld.key] = fld
    return fields, tuple(raw["states"])


FIELDS, STATES = _load()


def empty() -> dict[str, Any]:
    """Every input unknown."""
    return dict.fromkeys(FIELDS)


def answer(value: Any, where: str) -> str | None:
    """yes / no / None (unknown) from yes, no, unknown, true, false or null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value.strip().lower() in ANSWERS:
        v = value.strip().lower()
        return None if v == "unknown" else v
    raise TriageInputError(f"{where}: expected yes, no or unknown (or true/false/null), got {value!r}")


def number(value: Any, fld: Field, where: str) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "unknown"):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TriageInputError(f"{where}: expected a number{' in ' + fld.unit if fld.unit else ''} or unknown, "
                               f"got {value!r}")
    v = float(value)
    if v != v or (fld.lo is not None and v < fld.lo) or (fld.hi is not None and v > fld.hi):
        raise TriageInputError(f"{where}: {value!r} is outside {fld.lo:g}..{fld.hi:g} {fld.unit}".rstrip())
    if fld.type == "count":
        if v != int(v):
            raise TriageInputError(f"{where}: expected a whole number, got {value!r}")
        return int(v)
    return v


def state(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower().replace(" ", "_") in STATES:
        v = value.strip().lower().replace(" ", "_")
        return None if v == "unknown" else v
    raise TriageInputError(f"{where}: expected one of {', '.join(STATES)}, got {value!r}")


def convert(fld: Field, value: Any, where: str | None = None) -> Any:
    where = where or fld.key
    if fld.type == "answer":
        return answer(value, where)
    if fld.type == "state":
        return state(value, where)
    return number(value, fld, where)


def age_weeks_from_birth(dob: Any, on: date | datetime | None = None, where: str = "baby.date_of_birth") -> float:
    """Age in weeks on `on` (default today) from a YYYY-MM-DD date of birth."""
    if not isinstance(dob, str):
        raise TriageInputError(f"{where}: expected a date as YYYY-MM-DD, got {dob!r}")
    try:
        born = date.fromisoformat(dob.strip())
    except ValueError:
        raise TriageInputError(f"{where}: expected a date as YYYY-MM-DD, got {dob!r}") from None
    day = on.date() if isinstance(on, datetime) else (on or date.today())
    days = (day - born).days
    if days < 0:
        raise TriageInputError(f"{where}: {dob} is after the day of the episode ({day})")
    return round(days / 7.0, 1)


def _suggest(name: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def normalise(inputs: Any, today: date | datetime | None = None) -> dict[str, Any]:
    """Clean flat inputs from the nested answers dict ({"baby": {...}, "episode": {...}, "observations": {...}}).

    Missing keys are unknown. Unknown keys are an error (a misspelt answer must not silently become unknown).
    `baby.date_of_birth` (YYYY-MM-DD) is accepted instead of `baby.age_weeks`, counted to `today`.
    """
    if not isinstance(inputs, dict):
        raise TriageInputError(f"the answers must be a JSON object with {', '.join(SECTIONS)}, "
                               f"got {type(inputs).__name__}")
    out = empty()
    for top, section in inputs.items():
        if top in EXTRA_TOP:
            continue
        if top not in SECTIONS:
            raise TriageInputError(f"unknown key {top!r}{_suggest(top, list(SECTIONS))}; "
                                   f"expected {', '.join(SECTIONS)}")
        if section is None:
            continue
        if not isinstance(section, dict):
            raise TriageInputError(f"{top}: expected an object, got {section!r}")
        names = [f.name for f in FIELDS.values() if f.section == top]
        for name, value in section.items():
            key = f"{top}.{name}"
            if key == "baby.date_of_birth":
                if value is not None and section.get("age_weeks") is None:
                    out["baby.age_weeks"] = age_weeks_from_birth(value, today)
                continue
            fld = FIELDS.get(key)
            if fld is None:
                raise TriageInputError(f"unknown key {key!r}{_suggest(name, names)}")
            if key == "baby.age_weeks" and value is None and section.get("date_of_birth") is not None:
                continue
            out[key] = convert(fld, value)
    return out


def nest(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The nested answers form of clean flat inputs, unknowns written as "unknown" (or null for numbers)."""
    out: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for key, fld in FIELDS.items():
        v = flat.get(key)
        if v is None and fld.type in ("answer", "state"):
            v = "unknown"
        out[fld.section][fld.name] = v
    return out
