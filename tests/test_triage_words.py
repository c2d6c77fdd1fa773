"""What parents read: document titles (no rule ids, no file names), one coherent piece of advice per level, and a
docs page that lists every cited document by its title, so that each citation can be followed in the repository."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from anklet.triage import evaluate, normalise
from anklet.triage.engine import default_book
from anklet.triage.render import sources_table, text, update_doc
from anklet.triage.rules import SOURCE_FILES

ROOT = Path(__file__).resolve().parents[1]
BOOK = default_book()
RULE_IDS = {r.id for r in BOOK.rules}
FILE_NAME = re.compile(r"\d{3}_[0-9a-f]{16}\.txt")

# Answers that fire many red flags of every level at once: the worst case for repeated or mixed advice.
MANY = {
    "observations": {"breathing_change": "yes", "stiffness": "yes", "fever": "yes", "eye_rolling": "yes",
                     "stops_when_held": "no", "triggered": "no", "state": "falling_asleep"},
    "episode": {"rhythmic": "yes", "duration_s": 70, "episodes_24h": 4, "cluster": "yes"},
    "baby": {"premature": "yes", "milestones_on_track": "no", "age_weeks": 20},
}


def cases():
    yield "many", MANY
    keys = ["observations.stiffness", "observations.fever", "observations.colour_change", "baby.premature",
            "baby.milestones_on_track", "observations.triggered"]
    for bits in itertools.product(("yes", "no"), repeat=len(keys)):
        flat = dict(zip(keys, bits, strict=True))
        nested: dict = {}
        for k, v in flat.items():
            sec, name = k.split(".")
            nested.setdefault(sec, {})[name] = v
        nested.setdefault("episode", {}).update({"rhythmic": "yes", "duration_s": 12, "episodes_24h": 3})
        yield "/".join(bits), nested


@pytest.mark.parametrize("name, answers", list(cases())[:24])
def test_parents_see_titles_and_one_coherent_advice(name, answers):
    result = evaluate(normalise(answers))
    out = text(result)
    # No rule id, no file name, no folder that is not in the repository.
    words = set(re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)+", out))
    assert not (words & RULE_IDS), words & RULE_IDS
    assert not FILE_NAME.search(out) and "shared/seeds" not in out
    assert "docs/sources.md" in out
    # Advice: no sentence twice, and nothing from a lower level's words.
    advice = result["advice"]
    sentences = [s.strip() for a in advice for s in re.split(r"(?<=[.!?])\s+", a) if s.strip()]
    assert len(sentences) == len(set(sentences)), advice
    joined = " ".join(advice).lower()
    if result["level"] == "emergency":
        assert "today" not in joined and "book a visit" not in joined and "check-up" not in joined
        assert joined.count("call emergency services now") == 1
    if result["level"] == "urgent":
        assert "book a visit" not in joined and "next check-up" not in joined and "today" in joined
    if result["level"] == "soon":
        assert "book a visit" in joined and "today" not in joined
    # --json keeps the rule ids and the file names.
    data = json.loads(json.dumps(result))
    assert {r["rule"] for r in data["reasons"]} <= RULE_IDS | {"not-enough-known", "red-flags-not-ruled-out"}
    assert any(c.get("file") in SOURCE_FILES for r in data["reasons"] for c in r["citations"])


def test_the_issue_case_emergency_and_urgent_say_one_thing():
    result = evaluate(normalise(MANY))
    assert result["level"] == "emergency"
    assert sum("emergency services now" in a.lower() for a in result["advice"]) == 1


def test_every_cited_document_and_phrase_is_on_the_sources_page():
    page = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    assert update_doc(page, BOOK) == page, "docs/sources.md is stale: python -m anklet.triage.docgen docs/sources.md"
    for f, doc in BOOK.documents.items():
        assert f"### {doc['title']}" in page and f"`{f}`" in page
    for r in BOOK.rules:
        for src in r.sources:
            assert (src["quote"].replace("|", "\\|") if "file" in src else src["url"]) in page, (r.id, src)
    assert "shared/seeds" not in page
    assert sources_table(BOOK) in page
    for doc in ("README.md", "triage.md", "parents.md"):
        assert "sources.md" in (ROOT / "docs" / doc).read_text(encoding="utf-8"), doc
    # No document for parents sends them to a folder the repository does not have.
    for doc in ("parents.md", "triage.md", "README.md", "reports.md"):
        assert "shared/seeds" not in (ROOT / "docs" / doc).read_text(encoding="utf-8"), doc
    assert "shared/seeds" not in (ROOT / "README.md").read_text(encoding="utf-8")
