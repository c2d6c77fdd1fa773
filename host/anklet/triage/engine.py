"""Evaluate the rule book on a set of answers and write the result parents see.

The level is the highest level among the red flags known to hold. Reassurance (``routine``) needs at least one
reassuring sign AND every red flag known not to hold: a red flag that might hold because a question was
answered "unknown" keeps the level at ``soon`` or above and is listed as an open question. Unknown answers
therefore never lower the level, and never reassure.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from .rules import RANK, Rule, RuleBook, load_rules
from .schema import FIELDS, nest, normalise

DISCLAIMER = (
    "This is not a diagnosis. anklet repeats what its public source documents say about leg shaking in babies, "
    "to help you decide how quickly to get medical help; only a doctor who examines your baby can diagnose. "
    "A movement band cannot see every seizure. If you are worried, call your doctor or emergency services "
    "whatever this says."
)

# What parents should write down, and where the documents say so.
RECORD = (
    ("Date and time the episode started.",
     {"file": "003_013d16051676edfb.txt", "quote": "Date/time occurrences happen;"}),
    ("How long it lasted and how strong it looked.",
     {"file": "003_013d16051676edfb.txt", "quote": "Description of movement intensity/duration;"}),
    ("What you saw: which limbs, rhythmic or irregular, and whether holding the leg stopped it.",
     {"file": "004_c11b25ba22d70b7a.txt", "quote": "Monitor Frequency and Duration"}),
    ("Anything that set it off: touch, a noise, feeding, a diaper change.",
     {"file": "003_013d16051676edfb.txt", "quote": "Pertinent triggers noticed;"}),
    ("Any other symptoms: breathing, skin colour, alertness, fever.",
     {"file": "004_c11b25ba22d70b7a.txt", "quote": "Record Associated Symptoms"}),
    ("A video on your phone, if you can take one safely.",
     {"file": "003_013d16051676edfb.txt",
      "quote": "Videos recorded on smartphones offer invaluable visual evidence aiding diagnosis"}),
    ("Your baby's milestones (a developmental log).",
     {"file": "004_c11b25ba22d70b7a.txt", "quote": "Maintain a Developmental Log"}),
)

# The advice when too little is known to reassure, and the check-ups the documents advise.
CONSULT = {"file": "004_c11b25ba22d70b7a.txt",
           "quote": "Consult a Pediatrician: Schedule a consultation with a pediatrician to discuss concerns and share "
                    "documented observations."}
CHECKUPS = {"file": "002_dfc37246d8079a04.txt",
            "quote": "Regular check-ups with your pediatric care provider ensure your little one stays on track"}

_BOOK: RuleBook | None = None


def default_book() -> RuleBook:
    global _BOOK
    if _BOOK is None:
        _BOOK = load_rules()
    return _BOOK


def _citation(src: dict[str, str]) -> str:
    return src.get("file") or src.get("url", "")


def _with_titles(sources: Any, book: RuleBook) -> list[dict[str, str]]:
    return [{**s, "title": book.title(s)} for s in sources]


def _fired(rule: Rule, inputs: dict[str, Any], book: RuleBook) -> dict[str, Any]:
    based_on = {}
    for item in rule.when.items():
        v = inputs.get(item.key)
        based_on[item.key] = "unknown" if v is None else v
    return {
        "rule": rule.id,
        "kind": rule.kind,
        "level": rule.level,
        "reason": rule.reason,
        "source": _citation(rule.sources[0]),
        "citations": _with_titles(rule.sources, book),
        "based_on": based_on,
        **({"advice": rule.advice} if rule.advice else {}),
    }


def band_summary(inputs: dict[str, Any]) -> str | None:
    """One line with what the band measured, for the record; None when nothing came from the band."""
    parts = []
    if inputs.get("episode.duration_s") is not None:
        parts.append(f"{inputs['episode.duration_s']:.0f} s")
    if inputs.get("episode.frequency_hz") is not None:
        freq = f"at {inputs['episode.frequency_hz']:.1f} Hz"
        drift = inputs.get("episode.frequency_drift_hz")
        if drift is not None and abs(drift) >= 0.05:
            freq += f" ({'slowing' if drift < 0 else 'speeding up'} by {abs(drift):.1f} Hz)"
        parts.append(freq)
    if inputs.get("episode.amplitude_mg") is not None:
        parts.append(f"amplitude {inputs['episode.amplitude_mg']:.0f} mg")
    if inputs.get("episode.episodes_24h") is not None:
        parts.append(f"{inputs['episode.episodes_24h']} episode(s) in 24 h")
    if inputs.get("episode.frequency_hz") is None and inputs.get("episode.amplitude_mg") is None:
        return None
    return "The band measured: " + ", ".join(parts) + "."


def evaluate(inputs: dict[str, Any], book: RuleBook | None = None) -> dict[str, Any]:
    """The triage result for clean flat inputs (see schema.normalise)."""
    book = book or default_book()
    red: list[Rule] = []
    calm: list[Rule] = []
    open_rules: list[Rule] = []
    for rule in book.rules:
        v = rule.when.eval(inputs)
        if v is True:
            (red if rule.kind == "red_flag" else calm).append(rule)
        elif v is None and rule.kind == "red_flag":
            open_rules.append(rule)
    if red:
        level = max((r.level for r in red), key=RANK.__getitem__)
    elif calm and not open_rules:
        level = "routine"
    else:
        level = "soon"  # not enough is known to reassure
    red.sort(key=lambda r: -RANK[r.level])

    reasons = [_fired(r, inputs, book) for r in red] + [_fired(r, inputs, book) for r in calm]
    if not red and not calm:
        reasons.append({
            "rule": "not-enough-known", "kind": "default", "level": "soon",
            "reason": "Too few questions were answered to tell ordinary movement from a sign that needs a doctor.",
            "source": "004_c11b25ba22d70b7a.txt",
            "citations": _with_titles([CONSULT], book),
            "based_on": {},
        })
    elif not red and open_rules:
        reasons.append({
            "rule": "red-flags-not-ruled-out", "kind": "default", "level": "soon",
            "reason": "Some questions that could reveal a warning sign were not answered, so anklet cannot "
                      "reassure you.",
            "source": "004_c11b25ba22d70b7a.txt",
            "citations": _with_titles([CONSULT], book),
            "based_on": {},
        })

    # Open questions: unknown answers that could raise the level.
    open_q: dict[str, dict[str, Any]] = {}
    for rule in open_rules:
        if RANK[rule.level] <= RANK[level]:
            continue
        for key in rule.when.undecided_keys(inputs):
            q = open_q.setdefault(key, {"question": key, "text": FIELDS[key].question or key,
                                        "could_raise_to": rule.level, "rules": []})
            if RANK[rule.level] > RANK[q["could_raise_to"]]:
                q["could_raise_to"] = rule.level
            q["rules"].append(rule.id)
    open_list = sorted(open_q.values(), key=lambda q: -RANK[q["could_raise_to"]])

    # One piece of advice: the level's own, plus what the rules that set this level add to it. Rules of a lower
    # level are listed under "why" but add no advice ("book a visit" beside "see a doctor today" would confuse).
    lv = book.levels[level]
    advice = list(lv.get("advice", []))
    for r in red:
        if r.level == level and r.advice and r.advice not in advice:
            advice.append(r.advice)
    if any(q["could_raise_to"] == "emergency" for q in open_list):
        advice.append("Some answers were unknown. If you later notice any of the open questions below, "
                      "for example the baby not responding, a change in breathing or a pale or blue colour, "
                      "call emergency services.")
    if level == "soon":
        advice.append(f"The documents also advise regular check-ups: \"{CHECKUPS['quote']}\" "
                      f"({book.title(CHECKUPS)}).")

    record = [text for text, _ in RECORD]
    band = band_summary(inputs)
    if band:
        record.insert(0, band + " anklet keeps this in its log; show it to the doctor.")

    return {
        "level": level,
        "headline": lv["headline"],
        "not_a_diagnosis": DISCLAIMER,
        "reasons": reasons,
        "open_questions": open_list,
        "advice": advice,
        "record": record,
        "record_sources": _with_titles([src for _, src in RECORD], book),
        "inputs": nest(inputs),
    }


def triage(inputs: dict[str, Any], *, today: date | datetime | None = None,
           book: RuleBook | None = None) -> dict[str, Any]:
    """The triage result for an answers dict ({"baby", "episode", "observations"}); raises TriageInputError."""
    return evaluate(normalise(inputs, today), book)
