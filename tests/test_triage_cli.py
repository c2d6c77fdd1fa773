"""`anklet triage`: the answers file and JSON output, the interactive questions driven through their prompts,
the band adapter, and the log (answers saved with the episode)."""

from __future__ import annotations

import argparse
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from anklet.cli import CliError
from anklet.triage import after_alarm, episode_inputs, interview, normalise, triage
from anklet.triage import cli as triage_cli
from anklet.triage.render import coverage_table, levels_table, rules_table, update_doc
from anklet.triage.rules import load_rules
from anklet.triage.schema import FIELDS

ROOT = Path(__file__).resolve().parents[1]

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


def run(argv: list[str], stdin: str = "") -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="anklet")
    triage_cli.register(parser.add_subparsers())
    args = parser.parse_args(["triage", *argv])
    out = io.StringIO()
    code = args.func(args, stdin=io.StringIO(stdin), stdout=out)
    return code, out.getvalue()


def write(tmp_path: Path, name: str, data) -> str:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(p)


# ---- --answers FILE --json -----------------------------------------------------------------------------------


def test_answers_file_to_json(tmp_path):
    code, out = run(["--answers", write(tmp_path, "a.json", PARENT_000), "--json"])
    assert code == 0
    result = json.loads(out)
    assert result["level"] == "routine"
    assert set(result) >= {"level", "reasons", "advice", "record", "not_a_diagnosis"}
    for reason in result["reasons"]:
        assert reason["rule"] and reason["source"].endswith(".txt")
    assert result["inputs"]["observations"]["stops_when_held"] == "unknown"


def test_answers_from_stdin_and_as_text(tmp_path):
    code, out = run(["--answers", "-"], stdin=json.dumps({"observations": {"colour_change": "yes"}}))
    assert code == 0
    assert out.startswith("=") and "EMERGENCY" in out and "This is not a diagnosis" in out
    assert "Baby Leg Shaking in Sleep" in out and "003_013d16051676edfb.txt" not in out


def test_out_file_keeps_answers_and_result(tmp_path):
    out_path = tmp_path / "saved.json"
    run(["--answers", write(tmp_path, "a.json", PARENT_000), "--out", str(out_path)])
    saved = json.loads(out_path.read_text())
    assert saved["result"]["level"] == "routine"
    assert triage(saved["answers"])["level"] == "routine"  # the saved answers replay to the same result


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON: Expecting property name"),
    ("[1, 2]", "must hold a JSON object"),
    (json.dumps({"observations": {"stifness": "yes"}}), "did you mean 'stiffness'"),
    (json.dumps({"episode": {"duration_s": "forever"}}), "episode.duration_s: expected a number"),
])
def test_malformed_answers_file_is_a_clear_error(tmp_path, content, message):
    path = write(tmp_path, "bad.json", content)
    with pytest.raises(CliError, match=message) as exc:
        run(["--answers", path, "--json"])
    assert path in str(exc.value)


def test_missing_answers_file_is_a_clear_error(tmp_path):
    with pytest.raises(CliError, match="cannot read the answers file"):
        run(["--answers", str(tmp_path / "nope.json")])


def test_db_without_episode_is_refused():
    with pytest.raises(CliError, match="needs an EPISODE id"):
        run(["--db", "x.db", "--answers", "-"], stdin="{}")


def test_baby_file_fills_the_baby_answers(tmp_path):
    baby = write(tmp_path, "baby.json", {"baby": {"age_weeks": 20, "premature": "yes"}})
    _, out = run(["--answers", "-", "--baby", baby, "--json"], stdin=json.dumps({"episode": {"rhythmic": "yes"}}))
    result = json.loads(out)
    assert result["inputs"]["baby"]["age_weeks"] == 20
    assert {"rhythmic-beyond-three-months", "premature-or-birth-complications"} <= {r["rule"] for r in
                                                                                      result["reasons"]}


# ---- interactive ---------------------------------------------------------------------------------------------


def answers_for(mapping: dict[str, str]) -> str:
    """Lines answering the questions in the order they are asked ('?' where `mapping` has nothing)."""
    return "".join(mapping.get(k, "?") + "\n" for k, f in FIELDS.items() if f.ask)


def test_interactive_000_case_through_the_prompts():
    replies = {
        "observations.unresponsive": "n", "observations.breathing_change": "n", "observations.colour_change": "n",
        "observations.stops_when_held": "?", "observations.triggered": "y", "observations.state": "2",
        "observations.stiffness": "n", "observations.eye_rolling": "n", "observations.drooling": "n",
        "observations.floppiness": "n", "observations.one_side_only": "n", "observations.pain": "n",
        "observations.fever": "n", "observations.weakness": "no", "observations.feeding_difficulty": "n",
        "observations.irritability": "n", "episode.duration_s": "1.5", "episode.rhythmic": "n",
        "episode.cluster": "n", "episode.after_waking": "n", "episode.episodes_24h": "1",
        "baby.age_weeks": "12", "baby.premature": "n", "baby.birth_complications": "n",
        "baby.milestones_on_track": "yes",
    }
    out = io.StringIO()
    inputs, result = interview(io.StringIO(answers_for(replies)), out)
    text = out.getvalue()
    for fld in FIELDS.values():
        if fld.ask:
            assert fld.question in text
    assert inputs["observations.state"] == "falling_asleep" and inputs["episode.duration_s"] == 1.5
    assert result["level"] == "routine"
    assert "ROUTINE" in text and "pediatrician" in text and "This is not a diagnosis" in text


def test_interactive_reasks_after_a_bad_answer_and_accepts_dates():
    lines = "maybe\n" + answers_for({"observations.unresponsive": "n", "observations.state": "sleeping",
                                      "baby.age_weeks": "2026-01-01"})
    lines = lines.replace("sleeping\n", "sleeping\nasleep\n")  # state: a wrong word, then a right one
    out = io.StringIO()
    inputs, _ = interview(io.StringIO(lines), out, today=datetime(2026, 4, 2))
    text = out.getvalue()
    assert "please answer y (yes), n (no) or ? (don't know)" in text
    assert "expected one of asleep, falling_asleep, feeding, awake, unknown, got 'sleeping'" in text
    assert inputs["observations.unresponsive"] == "no" and inputs["observations.state"] == "asleep"
    assert inputs["baby.age_weeks"] == pytest.approx(13.0)


def test_interactive_emergency_is_told_at_once_and_can_stop_there():
    out = io.StringIO()
    # not responsive: yes -> the call-now banner comes before the next question; then 'n' = stop asking
    inputs, result = interview(io.StringIO("y\nn\n"), out)
    text = out.getvalue()
    banner = text.index("EMERGENCY")
    assert banner < text.index("Keep answering")
    assert FIELDS["observations.breathing_change"].question not in text
    assert result["level"] == "emergency" and inputs["observations.unresponsive"] == "yes"


def test_interactive_end_of_input_leaves_the_rest_unknown_and_stays_cautious():
    out = io.StringIO()
    inputs, result = interview(io.StringIO("n\nn\n"), out)
    assert "the rest stay unknown" in out.getvalue()
    assert inputs["observations.colour_change"] is None
    assert result["level"] == "soon" and result["open_questions"]


def test_interactive_skips_what_the_band_measured():
    known = normalise({"episode": {"duration_s": 42, "rhythmic": "yes", "frequency_hz": 2.1}})
    out = io.StringIO()
    _, result = interview(io.StringIO(""), out, known=known)
    assert FIELDS["episode.duration_s"].question not in out.getvalue()
    assert result["level"] == "urgent"
    assert result["record"][0].startswith("The band measured: 42 s, at 2.1 Hz")


def test_cli_interactive_without_band(tmp_path):
    code, out = run(["--out", str(tmp_path / "s.json")], stdin="n\nn\ny\n")
    assert code == 0 and "EMERGENCY" in out
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["answers"]["observations"]["colour_change"] == "yes"


# ---- the band and the log ----------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


def ep(i: int, minutes: float, **kw):
    base = dict(id=i, onset=T0 + timedelta(minutes=minutes), duration_s=25.0, freq_hz=2.2, f_start_hz=2.6,
                f_end_hz=2.0, rhythm=0.8, amp_mg=310)
    base.update(kw)
    return SimpleNamespace(**base)


def test_episode_inputs_from_a_band_episode():
    this = ep(5, 0)
    history = [ep(1, -60 * 25), ep(2, -60 * 20), ep(3, -10), ep(4, -5), this, ep(6, 3)]
    got = episode_inputs(this, history)
    assert got == {"rhythmic": "yes", "duration_s": 25.0, "frequency_hz": 2.2, "amplitude_mg": 310.0,
                   "frequency_drift_hz": -0.6, "episodes_24h": 4, "cluster": "yes"}
    lone = episode_inputs(this, [this])
    assert lone["episodes_24h"] == 1 and lone["cluster"] == "no"
    assert "episodes_24h" not in episode_inputs(this) and "cluster" not in episode_inputs(this)
    result = triage({"episode": got})
    assert result["level"] == "urgent"
    assert "slowing by 0.6 Hz" in result["record"][0]


class FakeStore:
    def __init__(self, episodes):
        self.eps = {e.id: e for e in episodes}
        self.saved = []

    def episode(self, i):
        if i not in self.eps:
            raise KeyError(f"no episode {i} in the log")
        return self.eps[i]

    def episodes_since(self, dt):
        return [e for e in self.eps.values() if e.onset >= dt]

    def save_triage(self, i, answers, result):
        self.saved.append((i, answers, result))


def test_after_alarm_asks_prefills_and_saves():
    store = FakeStore([ep(1, -8), ep(2, -4), ep(3, 0, duration_s=70)])
    out = io.StringIO()
    result = after_alarm(store, 3, io.StringIO("n\nn\nn\nn\n"), out, baby={"age_weeks": 10})
    # band data: rhythmic 70 s, in a cluster of 3 -> urgent at least; stops_when_held=no + 70 s -> emergency
    assert result["level"] == "emergency"
    assert "seizure-like-not-stopped" in {r["rule"] for r in result["reasons"]}
    (i, answers, saved), = store.saved
    assert i == 3 and saved == result
    assert answers["episode"]["duration_s"] == 70 and answers["episode"]["cluster"] == "yes"
    assert answers["baby"]["age_weeks"] == 10
    assert FIELDS["baby.age_weeks"].question not in out.getvalue()


def test_cli_episode_from_the_real_log(tmp_path):
    store_mod = pytest.importorskip("anklet.store")
    from anklet.records import DeviceEvent

    db = tmp_path / "night.db"
    store = store_mod.Store(db)
    end = DeviceEvent("end", 90_000, {"onset_ms": 50_000, "dur_ms": 40_000, "freq_chz": 210, "f_start_chz": 240,
                                      "f_end_chz": 190, "rhythm": 900, "amp_mg": 280}, seq=1, boot=1)
    store.add_events("band-a", [end], received_at=T0.timestamp())
    (episode,) = store.episodes()
    store.close()

    code, out = run([str(episode.id), "--db", str(db), "--answers", "-", "--json"],
                    stdin=json.dumps({"observations": {"stops_when_held": "yes", "triggered": "yes"}}))
    assert code == 0
    result = json.loads(out)
    assert result["level"] == "urgent"
    assert result["inputs"]["episode"]["duration_s"] == 40.0 and result["inputs"]["episode"]["rhythmic"] == "yes"
    store = store_mod.Store(db)
    saved = store.triage_for(episode.id)
    store.close()
    assert saved["result"]["level"] == "urgent"
    assert saved["answers"]["observations"]["stops_when_held"] == "yes"

    with pytest.raises(CliError, match="no episode 99"):
        run(["99", "--db", str(db), "--answers", "-"], stdin="{}")


# ---- docs/triage.md ---------------------------------------------------------------------------------------------


def test_docs_hold_the_current_tables():
    doc = (ROOT / "docs" / "triage.md").read_text(encoding="utf-8")
    book = load_rules()
    for table in (levels_table(book), rules_table(book), coverage_table()):
        assert table in doc, "docs/triage.md is out of date: run python -m anklet.triage.docgen docs/triage.md"
    assert update_doc(doc, book) == doc
    assert update_doc(doc.replace("| `brief` |", "| `old` |"), book) == doc


def test_rules_table_command_prints_the_tables():
    code, out = run(["--rules-table"])
    assert code == 0 and "| `seizure-like-not-stopped` | emergency |" in out and "| document | sign |" in out


def test_interactive_tells_an_emergency_from_band_data_before_any_question():
    known = normalise({"episode": {"duration_s": 320, "rhythmic": "yes"}})
    out = io.StringIO()
    _, result = interview(io.StringIO("n\n"), out, known=known)
    text = out.getvalue()
    assert result["level"] == "emergency"
    assert text.index("EMERGENCY") < text.index("Keep answering")
    assert FIELDS["observations.unresponsive"].question not in text


def test_cli_interactive_for_an_episode_saves_the_answers_in_the_log(tmp_path):
    store_mod = pytest.importorskip("anklet.store")
    from anklet.records import DeviceEvent

    db = tmp_path / "night.db"
    store = store_mod.Store(db)
    end = DeviceEvent("end", 30_000, {"onset_ms": 20_000, "dur_ms": 8_000, "freq_chz": 300, "f_start_chz": 300,
                                      "f_end_chz": 300, "rhythm": 700, "amp_mg": 90}, seq=7, boot=2)
    store.add_events("band-a", [end], received_at=T0.timestamp())
    (episode,) = store.episodes()
    store.close()
    code, out = run([str(episode.id), "--db", str(db)], stdin="n\nn\nn\n")  # then end of input
    assert code == 0 and "URGENT" in out
    assert FIELDS["episode.duration_s"].question not in out  # the band measured it
    store = store_mod.Store(db)
    saved = store.triage_for(episode.id)
    store.close()
    assert saved["answers"]["observations"]["colour_change"] == "no"
    assert saved["answers"]["observations"]["stiffness"] == "unknown"
    assert saved["answers"]["episode"]["duration_s"] == 8.0
    assert saved["result"]["level"] == "urgent"


def test_the_command_is_registered():
    from anklet import cli

    assert "anklet.triage.cli" in cli.COMMAND_MODULES


def test_last_episode_and_bad_episode_arguments(tmp_path):
    store_mod = pytest.importorskip("anklet.store")
    from anklet.records import DeviceEvent

    db = tmp_path / "night.db"
    with pytest.raises(CliError, match="no log at"):
        run(["last", "--db", str(db), "--answers", "-"], stdin="{}")
    assert not db.exists()
    store = store_mod.Store(db)
    store.close()
    with pytest.raises(CliError, match="no episode in the log"):
        run(["last", "--db", str(db), "--answers", "-"], stdin="{}")
    store = store_mod.Store(db)
    for seq, onset in ((1, 10_000), (2, 200_000)):
        store.add_events("band-a", [DeviceEvent("end", onset + 9_000, {
            "onset_ms": onset, "dur_ms": 6_000 * seq, "freq_chz": 250, "f_start_chz": 250, "f_end_chz": 250,
            "rhythm": 800, "amp_mg": 100}, seq=seq, boot=1)], received_at=T0.timestamp() + onset / 1000 + 10)
    last = store.episodes()[-1]
    store.close()
    _, out = run(["last", "--db", str(db), "--answers", "-", "--json"], stdin="{}")
    assert json.loads(out)["inputs"]["episode"]["duration_s"] == 12.0
    store = store_mod.Store(db)
    assert store.triage_for(last.id) is not None
    store.close()
    _, shown = run(["last", "--db", str(db), "--show"])
    assert shown.startswith(f"Triage of episode {last.id}, saved ") and "URGENT" in shown
    _, shown = run([str(last.id), "--db", str(db), "--show", "--json"])
    assert json.loads(shown)["result"]["level"] == "urgent"
    store = store_mod.Store(db)
    first = store.episodes()[0].id
    store.close()
    with pytest.raises(CliError, match=f"no triage saved for episode {first}") as err:
        run([str(first), "--db", str(db), "--show"])
    assert f"`anklet triage {first} --db {db}`" in str(err.value)  # the hint names the same log
    with pytest.raises(CliError, match="EPISODE must be an episode id"):
        run(["yesterday", "--db", str(db), "--answers", "-"], stdin="{}")


def test_a_failed_save_still_shows_the_advice(tmp_path):
    out_dir = tmp_path / "missing" / "dir" / "s.json"
    parser = argparse.ArgumentParser(prog="anklet")
    triage_cli.register(parser.add_subparsers())
    args = parser.parse_args(["triage", "--answers", "-", "--out", str(out_dir)])
    out = io.StringIO()
    with pytest.raises(CliError, match="cannot write"):
        args.func(args, stdin=io.StringIO('{"observations": {"unresponsive": "yes"}}'), stdout=out)
    assert "EMERGENCY" in out.getvalue()


def test_through_the_anklet_command(tmp_path, capsys):
    from anklet import cli

    assert cli.main(["triage", "--answers", write(tmp_path, "a.json", PARENT_000), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["level"] == "routine"
    assert cli.main(["triage", "--answers", write(tmp_path, "b.json", "{oops")]) == 2
    assert "anklet: error: the answers file" in capsys.readouterr().err
