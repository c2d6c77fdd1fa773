"""Triage rules: the data is sound, every rule fires where it should, the documents' own cases come out right,
and unknown answers never lower the level."""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anklet.triage import LEVELS, RuleError, TriageInputError, evaluate, load_rules, normalise, triage
from anklet.triage.engine import RECORD
from anklet.triage.rules import RANK, SOURCE_FILES, parse_rules
from anklet.triage.schema import FIELDS, STATES

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"  # ../shared beside the checkout
BOOK = load_rules()
RULES_JSON = json.loads(resources.files("anklet.triage").joinpath("rules.json").read_text(encoding="utf-8"))
COVERAGE = json.loads(resources.files("anklet.triage").joinpath("coverage.json").read_text(encoding="utf-8"))


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


@pytest.fixture(scope="module")
def seeds() -> dict[str, str]:
    if not SEEDS.is_dir():
        pytest.skip("source documents not found")
    return {name: _norm((SEEDS / name).read_text(encoding="utf-8")) for name in SOURCE_FILES}


def level_of(answers: dict) -> str:
    return triage(answers)["level"]


def fired(result: dict) -> set[str]:
    return {r["rule"] for r in result["reasons"]}


# A baby and an episode with every answer known and benign: the reference that every red-flag case changes.
BENIGN = {
    "baby": {"age_weeks": 8, "premature": "no", "birth_complications": "no", "milestones_on_track": "yes"},
    "episode": {"duration_s": 2, "rhythmic": "no", "episodes_24h": 1, "cluster": "no", "after_waking": "no"},
    "observations": {
        "state": "asleep", "stops_when_held": "yes", "triggered": "yes", "stiffness": "no", "floppiness": "no",
        "breathing_change": "no", "colour_change": "no", "eye_rolling": "no", "drooling": "no",
        "unresponsive": "no", "fever": "no", "pain": "no", "one_side_only": "no", "weakness": "no",
        "feeding_difficulty": "no", "irritability": "no",
    },
}


def changed(**changes) -> dict:
    """BENIGN with `section__name=value` changes."""
    out = copy.deepcopy(BENIGN)
    for key, value in changes.items():
        section, name = key.split("__")
        out[section][name] = value
    return out


# ---- the data --------------------------------------------------------------------------------------------


def test_every_cited_phrase_occurs_in_its_document(seeds):
    n = 0
    for rule in BOOK.rules:
        for src in rule.sources:
            if "file" in src:
                assert _norm(src["quote"]) in seeds[src["file"]], (rule.id, src)
                n += 1
    for _, src in RECORD:
        assert _norm(src["quote"]) in seeds[src["file"]], src
    assert n >= 50


def test_outside_sources_are_public_pages_with_a_quote():
    external = [s for r in BOOK.rules for s in r.sources if "file" not in s]
    assert external, "the 5-minute emergency threshold needs its own public source"
    for s in external:
        assert s["url"].startswith("https://") and s["title"] and s["quote"]


def test_every_rule_has_reason_level_and_a_source_document():
    ids = [r.id for r in BOOK.rules]
    assert len(ids) == len(set(ids))
    kinds = {r.kind for r in BOOK.rules}
    assert kinds == {"red_flag", "reassuring"}
    for r in BOOK.rules:
        assert r.reason and r.level in LEVELS
        assert any("file" in s for s in r.sources)
        if r.kind == "red_flag":
            assert r.level != "routine"
    assert all(BOOK.levels[name].get("advice") for name in LEVELS)


def test_coverage_lists_every_rule_and_real_phrases(seeds):
    ids = {r.id for r in BOOK.rules}
    used = set()
    for sign in COVERAGE["signs"]:
        assert _norm(sign["quote"]) in seeds[sign["file"]], sign
        assert sign["type"] in ("red_flag", "reassuring")
        assert set(sign["rules"]) <= ids, sign
        assert sign["rules"] or sign.get("note"), f"uncovered sign without a note: {sign['quote']}"
        used |= set(sign["rules"])
    assert used == ids, f"rules missing from the coverage table: {ids - used}"
    for name in SOURCE_FILES:
        kinds = {s["type"] for s in COVERAGE["signs"] if s["file"] == name}
        assert kinds == {"red_flag", "reassuring"}, name


def test_nothing_says_a_doctor_is_unnecessary():
    bad = re.compile(r"no need|unnecessary|not necessary|don.t need|do not need|needn|no doctor|"
                     r"nothing to worry|no reason for concern", re.I)
    texts = json.dumps(RULES_JSON)
    assert not bad.search(texts)
    for answers in (BENIGN, {}, changed(observations__unresponsive="yes")):
        assert not bad.search(json.dumps(triage(answers)))


@pytest.mark.parametrize("broken, message", [
    ({"when": "observations.stifness is yes"}, "unknown input"),
    ({"when": "observations.stiffness is maybe"}, "can be yes, no"),
    ({"when": "episode.duration_s is yes"}, "is a number"),
    ({"when": "observations.stiffness >= 3"}, "not a number"),
    ({"when": {"all": []}}, "a condition is"),
    ({"level": "routine"}, "sets soon, urgent or emergency"),
    ({"sources": [{"file": "005_made_up.txt", "quote": "x"}]}, "not one of the source documents"),
    ({"sources": [{"file": "003_013d16051676edfb.txt", "quote": "Brief and intermittent"},
                  {"url": "http://x", "title": "t", "quote": "q"}]}, "https url"),
    ({"sources": [{"url": "https://x", "title": "t", "quote": "q"}]}, "at least one source document"),
    ({"sources": [{"file": "003_013d16051676edfb.txt", "quote": ""}]}, "needs a quote"),
    ({"reason": ""}, "reason"),
])
def test_a_broken_rule_is_refused_with_its_name(broken, message):
    data = copy.deepcopy(RULES_JSON)
    data["rules"][0].update(broken)
    with pytest.raises(RuleError, match=message) as exc:
        parse_rules(data)
    assert data["rules"][0]["id"] in str(exc.value)


def test_duplicate_ids_are_refused():
    data = copy.deepcopy(RULES_JSON)
    data["rules"].append(copy.deepcopy(data["rules"][0]))
    with pytest.raises(RuleError, match="unique id"):
        parse_rules(data)


# ---- one case (or more) per rule --------------------------------------------------------------------------

RED_FLAG_CASES = [
    ("spasm-clusters-on-waking", dict(episode__cluster="yes", episode__after_waking="yes"), "emergency"),
    ("spasm-clusters-on-waking", dict(episode__cluster="yes", observations__state="falling_asleep"), "emergency"),
    ("rhythmic-five-minutes", dict(episode__rhythmic="yes", episode__duration_s=300), "emergency"),
    ("breathing-or-colour-change", dict(observations__breathing_change="yes"), "emergency"),
    ("breathing-or-colour-change", dict(observations__colour_change="yes"), "emergency"),
    ("unresponsive", dict(observations__unresponsive="yes"), "emergency"),
    ("seizure-like-not-stopped", dict(episode__rhythmic="yes", episode__duration_s=30,
                                      observations__stops_when_held="no"), "emergency"),
    ("seizure-like-not-stopped", dict(episode__rhythmic="yes", episode__duration_s=3, observations__eye_rolling="yes",
                                      observations__stops_when_held="no"), "emergency"),
    ("neither-induced-nor-stopped", dict(observations__stops_when_held="no", observations__triggered="no"), "urgent"),
    ("rhythmic-more-than-a-few-seconds", dict(episode__rhythmic="yes", episode__duration_s=5), "urgent"),
    ("rhythmic-more-than-a-few-seconds", dict(episode__rhythmic="yes", episode__duration_s=120), "urgent"),
    ("rhythmic-one-side", dict(episode__rhythmic="yes", observations__one_side_only="yes"), "urgent"),
    ("stiffness", dict(observations__stiffness="yes"), "urgent"),
    ("floppiness", dict(observations__floppiness="yes"), "urgent"),
    ("weakness", dict(observations__weakness="yes"), "urgent"),
    ("pain", dict(observations__pain="yes"), "urgent"),
    ("fever-or-illness", dict(observations__fever="yes"), "urgent"),
    ("feeding-difficulty", dict(observations__feeding_difficulty="yes"), "urgent"),
    ("persistent-irritability", dict(observations__irritability="yes"), "urgent"),
    ("eye-rolling-or-drooling", dict(observations__eye_rolling="yes"), "urgent"),
    ("eye-rolling-or-drooling", dict(observations__drooling="yes"), "urgent"),
    ("clusters", dict(episode__cluster="yes"), "urgent"),
    ("delays-with-frequent-shaking", dict(baby__milestones_on_track="no", episode__episodes_24h=3), "urgent"),
    ("frequent", dict(episode__episodes_24h=3, episode__rhythmic="yes"), "soon"),
    ("missed-milestones", dict(baby__milestones_on_track="no"), "soon"),
    ("rhythmic-beyond-three-months", dict(baby__age_weeks=13, episode__rhythmic="yes"), "soon"),
    ("premature-or-birth-complications", dict(baby__premature="yes"), "soon"),
    ("premature-or-birth-complications", dict(baby__birth_complications=True), "soon"),
]

# Just short of each threshold: the rule must not fire.
NEAR_MISSES = [
    ("rhythmic-five-minutes", dict(episode__rhythmic="yes", episode__duration_s=299)),
    ("rhythmic-more-than-a-few-seconds", dict(episode__rhythmic="yes", episode__duration_s=4.9)),
    ("rhythmic-more-than-a-few-seconds", dict(episode__rhythmic="no", episode__duration_s=60)),
    ("seizure-like-not-stopped", dict(episode__rhythmic="yes", episode__duration_s=29,
                                      observations__stops_when_held="no")),
    ("seizure-like-not-stopped", dict(episode__rhythmic="yes", episode__duration_s=60,
                                      observations__stops_when_held="yes")),
    ("neither-induced-nor-stopped", dict(observations__stops_when_held="no", observations__triggered="yes")),
    ("spasm-clusters-on-waking", dict(episode__cluster="yes", episode__after_waking="no")),
    ("frequent", dict(episode__episodes_24h=2, episode__rhythmic="yes")),
    ("frequent", dict(episode__episodes_24h=12, episode__rhythmic="no")),  # brief twitches are not "rhythmic"
    ("rhythmic-beyond-three-months", dict(baby__age_weeks=12.9, episode__rhythmic="yes")),
    ("rhythmic-one-side", dict(episode__rhythmic="no", observations__one_side_only="yes")),
    ("delays-with-frequent-shaking", dict(baby__milestones_on_track="no", episode__episodes_24h=2)),
]


def test_the_benign_reference_is_routine_and_fires_every_reassuring_sign():
    result = triage(BENIGN)
    assert result["level"] == "routine"
    assert fired(result) == {r.id for r in BOOK.rules if r.kind == "reassuring"}
    assert result["open_questions"] == []


def test_every_rule_has_a_case():
    covered = {rid for rid, _, _ in RED_FLAG_CASES} | {r.id for r in BOOK.rules if r.kind == "reassuring"}
    assert covered == {r.id for r in BOOK.rules}


@pytest.mark.parametrize("rule_id, changes, level", RED_FLAG_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(RED_FLAG_CASES)])
def test_red_flag_fires_and_sets_its_level(rule_id, changes, level):
    result = triage(changed(**changes))
    assert rule_id in fired(result)
    assert BOOK.by_id(rule_id).level == level
    assert RANK[result["level"]] >= RANK[level]
    reason = next(r for r in result["reasons"] if r["rule"] == rule_id)
    assert reason["source"] == reason["citations"][0].get("file", reason["citations"][0].get("url"))
    assert reason["kind"] == "red_flag" and reason["level"] == level
    # the red flag's reasons come before any reassuring sign, and reassurance never lowers it
    kinds = [r["kind"] for r in result["reasons"]]
    assert kinds == sorted(kinds, key=lambda k: k != "red_flag")


@pytest.mark.parametrize("rule_id, changes", NEAR_MISSES, ids=[c[0] for c in NEAR_MISSES])
def test_red_flag_does_not_fire_below_its_threshold(rule_id, changes):
    assert rule_id not in fired(triage(changed(**changes)))


@pytest.mark.parametrize("rule_id", [r.id for r in BOOK.rules if r.kind == "reassuring"])
def test_each_reassuring_sign_is_needed_known(rule_id):
    """Turning the sign's answers to unknown removes it from the reasons."""
    rule = BOOK.by_id(rule_id)
    answers = copy.deepcopy(BENIGN)
    for item in rule.when.items():
        section, name = item.key.split(".")
        answers[section][name] = "unknown" if FIELDS[item.key].type in ("answer", "state") else None
    assert rule_id not in fired(triage(answers))


def test_highest_level_wins_when_several_fire():
    result = triage(changed(observations__stiffness="yes", observations__colour_change="yes",
                            episode__episodes_24h=5, episode__rhythmic="yes"))
    assert result["level"] == "emergency"
    assert [r["rule"] for r in result["reasons"] if r["kind"] == "red_flag"][0] == "breathing-or-colour-change"
    assert {"stiffness", "frequent"} <= fired(result)


# ---- cases from the documents ------------------------------------------------------------------------------

# 000: "My son, who is now nearly three month old, has ankle twitching intermittently. Each episode lasts only
# for a very short duration. It only occurs when he is falling asleep or while eating. 99% of the time, I can
# induce it. The shake is never more than a few beats ... meeting or exceeding all milestones."
PARENT_000 = {
    "baby": {"age_weeks": 12, "premature": "no", "birth_complications": "no", "milestones_on_track": "yes"},
    "episode": {"duration_s": 1.5, "rhythmic": "no", "episodes_24h": 0, "cluster": "no", "after_waking": "no"},
    "observations": {
        "state": "falling_asleep", "stops_when_held": "unknown", "triggered": "yes", "stiffness": "no",
        "floppiness": "no", "breathing_change": "no", "colour_change": "no", "eye_rolling": "no", "drooling": "no",
        "unresponsive": "no", "fever": "no", "pain": "no", "one_side_only": "no", "weakness": "no",
        "feeding_difficulty": "no", "irritability": "no",
    },
}


def test_the_parent_question_in_000_is_reassurance_that_still_recommends_the_pediatrician():
    result = triage(PARENT_000)
    assert result["level"] == "routine"
    assert {"brief", "induced", "sleep-or-feeding", "growing-and-developing"} <= fired(result)
    advice = " ".join(result["advice"])
    assert "pediatrician" in advice and "check-up" in advice
    assert "consult your pediatrician" in advice  # the expert's own words
    assert result["not_a_diagnosis"].startswith("This is not a diagnosis")
    assert result["record"] and any("video" in r.lower() for r in result["record"])


@pytest.mark.parametrize("episodes_24h", [3, 8, 20])
@pytest.mark.parametrize("state", ["falling_asleep", "feeding"])
@pytest.mark.parametrize("stops", ["yes", "no"])
def test_the_000_case_answered_in_full_is_routine_however_often_it_twitches(episodes_24h, state, stops):
    """000's own case with every question answered: intermittent (many a day), a few beats at a time, induced,
    only when falling asleep or feeding, thriving. The expert reassures and suggests the pediatrician: routine,
    whose advice sends the parents to the pediatrician. Not "soon" because the twitches are frequent: the rule
    `frequent` counts rhythmic shaking, which these few induced beats are not."""
    answers = copy.deepcopy(PARENT_000)
    answers["episode"]["episodes_24h"] = episodes_24h
    answers["observations"].update(state=state, stops_when_held=stops)
    result = triage(answers)
    assert result["level"] == "routine", [r["rule"] for r in result["reasons"]]
    assert "frequent" not in fired(result)
    advice = " ".join(result["advice"])
    assert "consult your pediatrician" in advice and "check-up" in advice
    bad = re.compile(r"no need|unnecessary|not necessary|don.t need|do not need|needn", re.I)
    assert not bad.search(json.dumps(result))


def test_frequent_rhythmic_shaking_from_the_band_still_counts():
    # The band's episodes are rhythmic runs of 5 s or more: three in 24 h keep "frequent" (with the 003 rule).
    answers = changed(episode__rhythmic="yes", episode__duration_s=8, episode__episodes_24h=3)
    result = triage(answers)
    assert "frequent" in fired(result) and result["level"] == "urgent"
    reason = next(r["reason"] for r in result["reasons"] if r["rule"] == "frequent")
    assert "Rhythmic shaking came 3 or more times" in reason


def test_the_000_baby_with_rhythmic_shaking_past_three_months_is_not_routine():
    # "The cut out limit of 3 months for normal and abnormal Jitteriness"
    answers = copy.deepcopy(PARENT_000)
    answers["baby"]["age_weeks"] = 16
    answers["episode"]["rhythmic"] = "yes"
    result = triage(answers)
    assert result["level"] == "soon" and "rhythmic-beyond-three-months" in fired(result)


def test_001_shaking_lasting_minutes():
    # "Persistent rhythmic jerking: Continuous shaking lasting minutes could indicate seizures."
    answers = changed(episode__rhythmic="yes", episode__duration_s=180)
    assert level_of(answers) == "urgent"
    answers["episode"]["duration_s"] = 360
    result = triage(answers)
    assert result["level"] == "emergency" and "rhythmic-five-minutes" in fired(result)
    assert any("url" in c for r in result["reasons"] for c in r["citations"])


def test_003_seizure_indicators_are_an_emergency():
    # "Seizure indicators: Eye rolling, drooling, loss of consciousness."
    result = triage({"episode": {"rhythmic": "yes", "duration_s": 40},
                     "observations": {"eye_rolling": "yes", "drooling": "yes", "unresponsive": "yes"}})
    assert result["level"] == "emergency"
    assert result["headline"].startswith("EMERGENCY")
    assert any("emergency services" in a for a in result["advice"])


def test_004_infantile_spasms_pattern_is_an_emergency():
    # "clusters of sudden, symmetrical muscle contractions ... upon awakening ... a medical emergency"
    result = triage({"baby": {"age_weeks": 22, "milestones_on_track": "no"},
                     "episode": {"cluster": "yes", "after_waking": "yes", "episodes_24h": 6}})
    assert result["level"] == "emergency"
    assert {"spasm-clusters-on-waking", "delays-with-frequent-shaking", "clusters"} <= fired(result)


def test_002_birth_hypoxia_with_occasional_twitching():
    # "A key risk factor is fetal hypoxia" -> book a visit; with "Stiffness or floppiness in limbs" -> today.
    assert level_of(changed(baby__birth_complications="yes")) == "soon"
    assert level_of(changed(baby__birth_complications="yes", observations__floppiness="yes")) == "urgent"


def test_004_startle_while_awake_is_ordinary():
    # "isolated leg shaking occurring in the context of a startle is likely a normal physiological response"
    result = triage(changed(observations__state="awake", episode__duration_s=2, observations__triggered="yes"))
    assert result["level"] == "routine" and "induced" in fired(result)


# ---- unknown answers ---------------------------------------------------------------------------------------


def test_nothing_known_is_soon_and_lists_the_emergency_questions_first():
    result = triage({})
    assert result["level"] == "soon"
    assert result["open_questions"][0]["could_raise_to"] == "emergency"
    asked = {q["question"] for q in result["open_questions"]}
    assert {"observations.unresponsive", "observations.breathing_change", "observations.colour_change"} <= asked
    assert any("call emergency services" in a for a in result["advice"])


def test_an_unknown_red_flag_answer_blocks_reassurance():
    for key in ("colour_change", "unresponsive", "stiffness", "pain", "fever"):
        answers = copy.deepcopy(PARENT_000)
        answers["observations"][key] = "unknown"
        result = triage(answers)
        assert result["level"] == "soon", key
        assert f"observations.{key}" in {q["question"] for q in result["open_questions"]}
        del answers["observations"][key]  # missing is the same as unknown
        assert triage(answers)["level"] == "soon"


def test_after_an_alarm_unknown_answers_keep_it_urgent_and_say_what_would_make_it_an_emergency():
    result = triage({"episode": {"rhythmic": "yes", "duration_s": 45}})
    assert result["level"] == "urgent"
    raise_to = {q["question"]: q["could_raise_to"] for q in result["open_questions"]}
    assert raise_to["observations.unresponsive"] == "emergency"
    assert raise_to["observations.stops_when_held"] == "emergency"


VALUES = {
    "answer": ["yes", "no"],
    "state": [s for s in STATES if s != "unknown"],
    "number": [0, 2, 4.9, 5, 12, 13, 29, 30, 60, 299, 300, 1000],
    "count": [0, 1, 2, 3, 10],
}


def _any_value(fld):
    return st.sampled_from(VALUES[fld.type] + [None])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({k: _any_value(f) for k, f in FIELDS.items() if f.type != "number" or f.ask}),
       st.data())
def test_unknown_never_lowers_the_level(inputs, data):
    """For any answers and any question: answering 'unknown' gives a level at least as high as the lowest that
    a real answer could give, and reassures only if every real answer would too."""
    inputs = {k: inputs.get(k) for k in FIELDS}
    key = data.draw(st.sampled_from([k for k, f in FIELDS.items() if f.ask]))
    fld = FIELDS[key]
    with_unknown = evaluate({**inputs, key: None})["level"]
    known = [evaluate({**inputs, key: v})["level"] for v in VALUES[fld.type]]
    assert RANK[with_unknown] >= min(RANK[lv] for lv in known), (key, inputs)
    if with_unknown == "routine":
        assert set(known) == {"routine"}, (key, inputs)


# ---- input checking ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad, message", [
    ({"observations": {"stifness": "yes"}}, "did you mean 'stiffness'"),
    ({"observation": {}}, "did you mean 'observations'"),
    ({"observations": {"stiffness": "maybe"}}, "observations.stiffness: expected yes, no or unknown"),
    ({"observations": {"state": "dreaming"}}, "observations.state: expected one of asleep"),
    ({"episode": {"duration_s": "long"}}, "episode.duration_s: expected a number"),
    ({"episode": {"duration_s": -3}}, "outside"),
    ({"episode": {"episodes_24h": 2.5}}, "whole number"),
    ({"episode": {"duration_s": float("nan")}}, "outside"),
    ({"episode": {"duration_s": True}}, "expected a number"),
    ({"baby": {"date_of_birth": "last spring"}}, "YYYY-MM-DD"),
    ({"baby": []}, "expected an object"),
    ([1, 2], "JSON object"),
])
def test_malformed_answers_get_a_clear_error(bad, message):
    with pytest.raises(TriageInputError, match=re.escape(message)):
        triage(bad)


def test_booleans_null_and_case_are_accepted():
    flat = normalise({"baby": {"premature": False, "milestones_on_track": True},
                      "observations": {"stiffness": "YES", "pain": None, "state": "Falling asleep"}})
    assert flat["baby.premature"] == "no" and flat["baby.milestones_on_track"] == "yes"
    assert flat["observations.stiffness"] == "yes" and flat["observations.pain"] is None
    assert flat["observations.state"] == "falling_asleep"


def test_date_of_birth_gives_age_in_weeks():
    from datetime import date

    flat = normalise({"baby": {"date_of_birth": "2026-01-01"}}, today=date(2026, 4, 2))
    assert flat["baby.age_weeks"] == pytest.approx(13.0)
    assert triage({"baby": {"date_of_birth": "2026-01-01"}, "episode": {"rhythmic": "yes"}},
                  today=date(2026, 4, 2))["level"] == "soon"
    with pytest.raises(TriageInputError, match="after the day"):
        normalise({"baby": {"date_of_birth": "2026-05-01"}}, today=date(2026, 4, 2))


def test_level_advice_sources_are_real(seeds):
    for name, lv in BOOK.levels.items():
        assert lv.get("sources"), f"level {name} gives advice without a source"
        for src in lv["sources"]:
            if "file" in src:
                assert _norm(src["quote"]) in seeds[src["file"]], (name, src)


def test_every_citation_in_a_result_is_real(seeds):
    cases = [{}, BENIGN, PARENT_000, changed(observations__pain="unknown"),
             {"episode": {"rhythmic": "yes", "duration_s": 400}}]
    for answers in cases:
        for reason in triage(answers)["reasons"]:
            assert reason["citations"], reason
            for src in reason["citations"]:
                if "file" in src:
                    assert _norm(src["quote"]) in seeds[src["file"]], (reason["rule"], src)
