"""The report's content: from the gathered nights to a list of blocks (doc.py) that html.py and pdf.py render.

Medical wording is not written here: the disclaimer, the record-keeping checklist and the advice come from the
triage package (anklet.triage.engine: DISCLAIMER, RECORD, and the saved triage results), which cites the
source documents. This module only says what the log holds, in plain words.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ..statusview import duration_text
from ..triage.band import episode_inputs
from ..triage.engine import DISCLAIMER, RECORD
from ..triage.schema import FIELDS
from . import plots
from .data import GAP_S, ONE_SHOT_LABELS, EpisodeView, NightData, level_rank
from .doc import Block, Bullets, Group, Heading, Para, Plot, Table

LIMITS_TEXT = (
    "anklet sees only the movement of the leg wearing the band. Many seizures in babies show little or no "
    "shaking, and the band can miss an episode or report ordinary movement as one. A night with no episodes in "
    "this report means only that the band did not detect prolonged rhythmic shaking while it was watching."
)
LEVEL_WORDS = {
    None: "no alarm (shorter than the NOTICE threshold)",
    "notice": "NOTICE",
    "alarm": "ALARM",
    "escalation": "ESCALATION (went on for minutes)",
}
# Short names of the parents' observations, for the checklist (the full questions are in anklet.triage).
SEEN = ("one_side_only", "stops_when_held", "stiffness", "floppiness", "eye_rolling", "drooling", "pain")
TRIGGERS = ("triggered", "state")
SYMPTOMS = ("unresponsive", "breathing_change", "colour_change", "fever", "irritability", "feeding_difficulty",
            "weakness")
SHORT = {
    "one_side_only": "one side or one limb only", "stops_when_held": "stopped when the leg was held",
    "stiffness": "stiffness", "floppiness": "floppiness", "eye_rolling": "eyes rolled or stared",
    "drooling": "drooling", "pain": "cried as if in pain", "triggered": "set off by touch, noise or startle",
    "state": "baby was", "unresponsive": "unresponsive", "breathing_change": "breathing changed",
    "colour_change": "pale or blue", "fever": "fever or ill", "irritability": "irritable",
    "feeding_difficulty": "feeding difficulty", "weakness": "a leg weak between episodes",
    "duration_s": "duration", "rhythmic": "rhythmic (the band reports only rhythmic movement)",
    "frequency_hz": "frequency", "frequency_drift_hz": "frequency drift", "amplitude_mg": "amplitude",
    "episodes_24h": "episodes in the 24 h before", "cluster": "in a cluster (3 in 15 min)",
}
SOURCES = ("003_013d16051676edfb.txt", "004_c11b25ba22d70b7a.txt")


def fmt_time(t: datetime | None, seconds: bool = True) -> str:
    if t is None:
        return "unknown (band clock not mapped)"
    return t.astimezone().strftime("%H:%M:%S" if seconds else "%H:%M")


def fmt_day(d: date | datetime) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}"


def fmt_dt(t: datetime | None) -> str:
    if t is None:
        return "unknown"
    t = t.astimezone()
    return f"{fmt_day(t)}, {t:%H:%M:%S}"


def tz_text() -> str:
    now = datetime.now().astimezone()
    off = now.strftime("%z")
    utc = f"UTC{off[:3]}:{off[3:]}"
    name = now.tzname() or ""
    return utc if name.startswith(("UTC", "+", "-")) or not name else f"{name}, {utc}"


def freq_text(v: EpisodeView) -> str:
    e = v.episode
    return f"{e.freq_hz:.1f} Hz"


def drift_text(v: EpisodeView) -> str:
    e = v.episode
    d = e.f_end_hz - e.f_start_hz
    how = "steady" if abs(d) < 0.05 else ("slowing" if d < 0 else "speeding up") + f" by {abs(d):.1f} Hz"
    return f"{e.f_start_hz:.1f} Hz at the start, {e.f_end_hz:.1f} Hz at the end ({how})"


def duration_of(v: EpisodeView) -> str:
    text = duration_text(v.episode.duration_s)
    return text + (" so far (no end logged)" if v.episode.open else "")


def _answers(tr: dict[str, Any] | None) -> dict[str, Any]:
    if not tr:
        return {}
    return tr.get("answers", {}).get("observations", {}) or {}


def _answered(obs: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    out = []
    for k in keys:
        v = obs.get(k)
        if v in (None, "unknown"):
            continue
        out.append(f"{SHORT[k]}: {str(v).replace('_', ' ')}")
    return out


def checklist(v: EpisodeView) -> tuple[list[list[str]], list[str]]:
    """The documents' record-keeping items for one episode, with what the log holds (rows, row styles)."""
    e = v.episode
    obs = _answers(v.triage)
    seen = [f"band: rhythmic leg movement at {e.freq_hz:.1f} Hz"] + _answered(obs, SEEN)
    trig = _answered(obs, TRIGGERS)
    sym = _answered(obs, SYMPTOMS)
    missing = "not in the log: please write it down"
    filled = [
        fmt_dt(v.onset),
        f"{duration_of(v)}; amplitude {e.amp_mg} mg",
        "; ".join(seen) if len(seen) > 1 else seen[0] + f"; {missing} (which limbs, did holding the leg stop it)",
        "; ".join(trig) if trig else missing,
        "; ".join(sym) if sym else missing,
        "anklet records no video: bring the videos on your phone",
        "not in the log: bring your notes",
    ]
    rows, styles = [], []
    for (item, src), value in zip(RECORD, filled, strict=True):
        rows.append([item, value, _book().title(src)])
        styles.append("missing" if value.startswith(("not in the log", "anklet records no")) or missing in value
                      else "")
    return rows, styles


def _book() -> Any:
    from ..triage.engine import default_book

    return default_book()


def _value(val: Any, unit: str) -> str:
    if isinstance(val, float):
        val = f"{val:g}"
    return f"{val} {unit}".strip() if unit else str(val).replace("_", " ")


def _reason_titles(r: dict[str, Any]) -> str:
    titles = [c.get("title") or _book().title(c) for c in r.get("citations", [])]
    return "; ".join(dict.fromkeys(t for t in titles if t)) or _book().title({"file": r.get("source", "")})


def _triage_blocks(v: EpisodeView) -> list[Block]:
    tr = v.triage
    if not tr:
        return [Para(f"No triage answers were saved for this episode. To go through the questions now: "
                     f"anklet triage {v.episode.id}", "note", "Triage:")]
    res = tr.get("result", {})
    out: list[Block] = [Para(res.get("headline", "(no result saved)"), "level-" + str(res.get("level", "")),
                             "Triage result:")]
    saved = tr.get("saved_at")
    rows = []
    unknown = []
    answers = tr.get("answers", {})
    band_keys = {f"episode.{k}" for k in episode_inputs(v.episode, [])}  # what the band measured, not asked
    measured = []
    for key, fld in FIELDS.items():
        section, name = key.split(".", 1)
        val = (answers.get(section) or {}).get(name)
        if key in band_keys:
            if val not in (None, "unknown"):
                measured.append(f"{SHORT.get(name, name.replace('_', ' '))}: {_value(val, fld.unit)}")
            continue
        if not fld.ask:
            continue
        if val is None or val == "unknown":
            unknown.append(SHORT.get(name, name.replace("_", " ")))
            continue
        rows.append([fld.question, str(val).replace("_", " ")])
    if rows:
        out.append(Table(["question", "parents' answer"], rows, "compact"))
    if measured:
        out.append(Para("; ".join(measured) + ".", "small", "Filled in from the band's log, not asked:"))
    if unknown:
        out.append(Para(", ".join(unknown) + ".", "small", "Not known or not asked:"))
    if res.get("advice"):
        out.append(Para("The advice anklet gave:", "small"))
        out.append(Bullets(list(res["advice"])))
    reasons = [r for r in res.get("reasons", []) if r.get("kind") != "reassuring"]
    if reasons:
        out.append(Para("Why (each reason rests on a source document, named by its title; the rules and the "
                        "documents' file names are in the appendix):", "small"))
        out.append(Bullets([f"{r['reason']} ({_reason_titles(r)})" for r in reasons], "small"))
    if saved is not None:
        out.append(Para(f"answers saved {fmt_dt(saved)}", "small"))
    return out


def episode_panel(v: EpisodeView) -> Group:
    e = v.episode
    alarms = "; ".join(
        f"{a.level.upper()} at {fmt_time(a.raised_at)}"
        + (f", acknowledged {fmt_time(a.acked_at)} ({a.acked_by})" if a.acked_at else ", not acknowledged")
        for a in v.alarms) or "none"
    facts = [
        ["Start", fmt_dt(v.onset)],
        ["Duration", duration_of(v)],
        ["Dominant frequency", freq_text(v)],
        ["Drift", drift_text(v)],
        ["Regularity (rhythm)", f"{e.rhythm:.2f} (1 = perfectly regular beats)"],
        ["Amplitude", f"{e.amp_mg} mg (RMS of the 1-8 Hz movement)"],
        ["Highest alarm level", LEVEL_WORDS.get(e.max_level, str(e.max_level))],
        ["Alarms", alarms],
        ["Band", f"{e.band}, boot {e.boot}, band clock {e.onset_ms / 1000:.1f} s; episode {e.id} in the log "
                 f"(anklet log, anklet triage)"],
    ]
    blocks: list[Block] = [
        Heading(3, f"Episode {v.number}: {fmt_dt(v.onset)}, {duration_text(e.duration_s)}, "
                   f"{LEVEL_WORDS.get(e.max_level, '').split(' (')[0]}", f"episode-{v.number}"),
        Table(None, facts, "facts", ["", "", "", "", "", "", "level-" + str(e.max_level), "", ""]),
        Plot(f"episode-{v.number}-frequency", lambda fig, v=v: plots.draw_frequency(fig, v), 6.3, 2.0,
             f"Episode {v.number}: frequency and amplitude over time"),
    ]
    if v.recording is not None:
        blocks.append(Plot(f"episode-{v.number}-raw", lambda fig, v=v: plots.draw_raw(fig, v), 7.5, 2.2,
                           f"Episode {v.number}: raw accelerometer signal from {v.recording.path.name}"))
    else:
        blocks.append(Para("No raw recording covers this episode, so there is no raw signal to show: the band sends "
                           "its measurements, not its samples, unless a recording is running (anklet record).",
                           "small", "Raw signal:"))
    blocks += _triage_blocks(v)
    rows, styles = checklist(v)
    blocks.append(Heading(4, "Record-keeping checklist"))
    blocks.append(Table(["the documents ask you to note", "what the log holds", "source"], rows, "compact", styles))
    return Group(blocks, "panel")


def night_blocks(n: NightData, new_page: bool = True) -> list[Block]:
    out: list[Block] = [Heading(2, f"Night of {fmt_day(n.day)}", f"night-{n.day.isoformat()}", new_page=new_page)]
    if n.empty:
        out.append(Para("Nothing was logged for this night: anklet was not watching. This is NOT a night "
                        "without episodes; nobody knows what happened.", "warn", "No data."))
        return out
    assert n.watched is not None
    w0, w1 = n.watched
    gaps_off = [g for g in n.gaps if not g.watching]
    summary = (f"anklet watched from {fmt_time(w0, False)} to {fmt_time(w1, False)} "
               f"({duration_text(n.span_s)}). ")
    if gaps_off:
        summary += (f"It was NOT watching for {duration_text(n.unwatched_s)} in {len(gaps_off)} "
                    f"gap{'s' if len(gaps_off) > 1 else ''} (hatched below).")
    else:
        summary += "There was no gap in monitoring."
    out.append(Para(summary, "warn" if gaps_off else "ok"))
    eps = n.episodes
    if eps:
        top = max(eps, key=lambda v: level_rank(v.level))
        out.append(Para(f"{len(eps)} episode{'s' if len(eps) > 1 else ''} of rhythmic shaking; the highest alarm "
                        f"level was {LEVEL_WORDS.get(top.level, '')}.", "lead"))
    else:
        out.append(Para("No episode of prolonged rhythmic shaking was detected while anklet was watching.", "lead"))
    out.append(Plot(f"timeline-{n.day.isoformat()}", lambda fig, n=n: plots.draw_timeline(fig, n), 7.5, 2.6,
                    f"Timeline of the night of {fmt_day(n.day)}: movement, episodes and gaps in monitoring"))
    if n.gaps:
        rows, styles = [], []
        for g in n.gaps:
            end = fmt_time(g.end, False) + (" (no end logged)" if g.open_end else "")
            rows.append([g.label, fmt_time(g.start, False), end, duration_text(g.duration_s), "; ".join(g.messages)])
            styles.append("" if g.watching else "warn")
        out.append(Heading(4, "Gaps in monitoring"))
        out.append(Table(["what", "from", "to", "for", "details"], rows, "compact", styles))
    if n.one_shots:
        rows = [[fmt_time(a.raised_at), ONE_SHOT_LABELS.get(a.code, a.code), a.message] for a in n.one_shots]
        out.append(Heading(4, "Other problems logged"))
        out.append(Table(["time", "what", "details"], rows, "compact"))
    if n.battery:
        (t_a, p_a), (t_b, p_b) = n.battery[0], n.battery[-1]
        out.append(Para(f"Band battery: {p_a}% at {fmt_time(t_a, False)}, {p_b}% at {fmt_time(t_b, False)}.",
                        "small"))
    for v in eps:
        out.append(episode_panel(v))
    return out


def overview(nights: list[NightData]) -> list[Block]:
    rows, styles = [], []
    for n in nights:
        if n.empty:
            rows.append([fmt_day(n.day), "not watching: nothing logged", "", "", "no data"])
            styles.append("warn")
            continue
        assert n.watched is not None
        eps = n.episodes
        top = max(eps, key=lambda v: level_rank(v.level)) if eps else None
        gaps = [g for g in n.gaps if not g.watching]
        rows.append([
            fmt_day(n.day),
            f"{fmt_time(n.watched[0], False)}-{fmt_time(n.watched[1], False)}",
            duration_text(n.watched_s),
            f"{len(gaps)} ({duration_text(n.unwatched_s)})" if gaps else "none",
            f"{len(eps)}" + (f", highest {LEVEL_WORDS.get(top.level, '').split(' (')[0]}" if top else ""),
        ])
        styles.append("warn" if gaps else "")
    out: list[Block] = [Heading(2, "At a glance", "glance"),
                        Table(["night", "watched", "time watched", "gaps (not watching)", "episodes"], rows,
                              "", styles)]
    eps = [v for n in nights for v in n.episodes]
    if eps:
        erows = []
        estyles = []
        for v in eps:
            tr = v.triage
            erows.append([f"#{v.number}", fmt_dt(v.onset), duration_of(v), freq_text(v),
                          f"{v.episode.f_start_hz:.1f} -> {v.episode.f_end_hz:.1f} Hz", f"{v.episode.amp_mg} mg",
                          LEVEL_WORDS.get(v.level, "").split(" (")[0],
                          (tr or {}).get("result", {}).get("level", "not triaged").upper() if tr else "not triaged"])
            estyles.append("level-" + str(v.level))
        out.append(Heading(4, "Episodes"))
        out.append(Table(["#", "start", "duration", "frequency", "drift", "amplitude", "alarm", "triage"], erows,
                         "compact", estyles))
    return out


def document(nights: list[NightData], *, title: str, db_text: str, generated: datetime | None = None,
             warnings: list[str] | None = None) -> list[Block]:
    """The whole report."""
    generated = generated or datetime.now().astimezone()
    out: list[Block] = [Heading(1, title)]
    bands = sorted({b for n in nights for b in n.bands})
    out.append(Para(f"Made by anklet on {fmt_dt(generated)} from the log {db_text}. "
                    f"Band{'s' if len(bands) != 1 else ''}: {', '.join(bands) or 'none heard'}. "
                    f"Times are local ({tz_text()}).", "small"))
    out.append(Group([Para(DISCLAIMER, "disclaimer"),
                      Para(LIMITS_TEXT, "disclaimer", "What the band cannot see.")], "box"))
    for w in warnings or []:
        out.append(Para(w, "warn", "Note:"))
    out += overview(nights)
    if len(nights) > 1:
        out.append(Heading(2, "Across nights", "trends"))
        out.append(Plot("trends", lambda fig: plots.draw_trends(fig, nights), 7.5, 2.4,
                        "Episodes per night, their durations, and hours watched per night"))
        out.append(Para("Hatched bars mark nights, or parts of nights, when anklet was not watching: no data is not "
                        "the same as no episodes.", "small"))
    for n in nights:
        out += night_blocks(n, new_page=len(nights) > 1)
    out += about(nights)
    return out


def triage_appendix(nights: list[NightData]) -> list[Block]:
    """For the doctor and for checking: each saved triage's rules (by id) and the files of their sources."""
    rows = []
    for n in nights:
        for v in n.episodes:
            res = (v.triage or {}).get("result") or {}
            for r in res.get("reasons", []):
                files = [c.get("file") or c.get("url", "") for c in r.get("citations", [])]
                rows.append([f"#{v.number}", str(r.get("rule", "")), str(r.get("level", "")),
                             ", ".join(dict.fromkeys(f for f in files if f))])
    if not rows:
        return []
    return [Heading(4, "The triage rules behind each saved result"),
            Para("Rule ids are those of docs/triage.md; source files are the documents listed by title in "
                 "docs/sources.md.", "small"),
            Table(["episode", "rule", "level", "sources (file names)"], rows, "compact")]


def about(nights: list[NightData]) -> list[Block]:
    book = _book()
    src_rows = [[item, f"{book.title(src)} ({src['file']})", f"\u201c{src['quote']}\u201d"] for item, src in RECORD]
    docs = "; ".join(f"{book.title({'file': f})} ({f})" for f in SOURCES)
    return [
        Heading(2, "How to read this report", "about", new_page=True),
        Bullets([
            "An episode is a run of rhythmic leg movement as the band measured it. Alarm levels: NOTICE after "
            "about 10 s of rhythm, ALARM after the set alarm time (20 s unless changed), ESCALATION after 5 "
            "minutes.",
            "Frequency is the number of beats per second (Hz) the band found; drift is how it changed from the "
            "start of the episode to its end. Amplitude is the strength of the 1-8 Hz movement in milli-g.",
            f"Gaps in monitoring: the monitor's FAULT alarms (link lost, band off, battery, log), and any silence "
            f"from the band longer than {GAP_S / 60:.1f} minutes. During a gap nothing was watched.",
            "Times come from the band's clock mapped to the computer's clock; they are right to about a second.",
            "Triage answers and advice are those the parents saved with `anklet triage`; the advice comes from "
            "the rules in anklet's triage, each resting on a cited source (docs/triage.md, docs/sources.md).",
        ], "small"),
        *triage_appendix(nights),
        Heading(4, "The record-keeping checklist and its sources"),
        Para("The source documents ask parents to keep a record of episodes for the doctor "
             f"({docs}). anklet fills in what its log "
             "holds; the rest is for you to add.", "small"),
        Table(["item", "source", "the document says"], src_rows, "compact"),
        Group([Para(DISCLAIMER, "disclaimer")], "box"),
    ]
