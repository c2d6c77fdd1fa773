"""Triage: walk parents through what the source documents say about an episode, and end with plain advice.

    >>> from anklet.triage import triage
    >>> triage({"observations": {"breathing_change": "yes"}})["level"]
    'emergency'

The rules are data (rules.json, reviewed in docs/triage.md); the questions are data (questions.json).
`triage(answers)` evaluates an answers dict; `episode_inputs(episode, history)` turns a band episode from the
log into the "episode" answers; `interview(inp, out, known=...)` asks the questions in a terminal;
`after_alarm(store, episode_id, inp, out)` does all three for an episode in the log and saves the answers.
"""

from __future__ import annotations

from typing import Any, TextIO

from .band import describe, episode_inputs, from_store, latest_episode, short_name
from .engine import DISCLAIMER, evaluate, triage
from .interactive import interview
from .rules import LEVELS, RuleError, load_rules
from .schema import TriageInputError, nest, normalise

__all__ = [
    "DISCLAIMER", "LEVELS", "RuleError", "TriageInputError", "after_alarm", "describe", "episode_inputs", "evaluate",
    "from_store", "interview", "latest_episode", "short_name", "load_rules", "nest", "normalise", "triage",
]


def after_alarm(store: Any, episode_id: int, inp: TextIO, out: TextIO,
                baby: dict[str, Any] | None = None) -> dict[str, Any]:
    """Ask about episode `episode_id` (band data prefilled), save answers and result with it; return the result."""
    ep, band = from_store(store, episode_id)
    onset = getattr(ep, "onset", None)
    known = normalise({"episode": band, "baby": baby or {}}, today=onset)
    inputs, result = interview(inp, out, known=known, today=onset, about=describe(ep), tag=short_name(ep))
    store.save_triage(episode_id, nest(inputs), result)
    return result
