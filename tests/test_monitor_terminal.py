"""What parents read in the monitor's terminal: the status block agrees with the log line above it, alarms are
banners, one clock and one form of duration, no radio jargon without --verbose, and the triage questions are not
written over (log lines wait for the answers; an alarm does not)."""

from __future__ import annotations

import asyncio
import io
import re
import threading

import pytest
from test_monitor_helpers import START, Rig, episode_script

from anklet.statusview import UP_CLEAR, StatusView


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Writes(io.StringIO):
    """A terminal that keeps each write apart: one log line and the block drawn with it are one write."""

    def __init__(self):
        super().__init__()
        self.writes: list[str] = []

    def write(self, text):
        self.writes.append(text)
        return super().write(text)


def _block_of(write: str) -> dict[str, str]:
    """The rows of the status block drawn in one write, by label."""
    rows = write.replace(UP_CLEAR, "").split("\n")
    start = next(i for i, r in enumerate(rows) if r.startswith("── anklet monitor"))
    out = {}
    for r in rows[start + 1:]:
        label, _, rest = r.strip().partition(" ")
        out.setdefault(label, rest.strip())
        if r.startswith("!"):
            out.setdefault("alarm_rows", "")
            out["alarm_rows"] += r + "\n"
    return out


def test_the_block_is_drawn_from_the_state_of_the_line_above_it(tmp_path):
    """At each NOTICE, ALARM and end of episode the block printed with the line says the same: not the state of
    the last tick (the log said ALARM while the block still said NOTICE)."""
    rig = Rig(tmp_path, script=episode_script(10, 40), duration_s=90)
    out = Writes()
    view = StatusView(out, tty=True, color=False)
    view.min_redraw_s = 1e9  # only changes of state redraw between lines
    rig.monitor.view = view
    view.source = rig.monitor.snapshot
    run(rig.run())
    seen = set()
    for w in out.writes:
        if "── anklet monitor" not in w:
            continue
        block = _block_of(w)
        if "NOTICE: rhythmic shaking" in w.split("── anklet monitor")[0]:
            seen.add("notice")
            assert block["episode"].endswith("(NOTICE)"), block
            assert "NOTICE" in block["NOTICE:"] or "rhythmic shaking" in block["NOTICE:"]
        if "ALARM: PROLONGED" in w.split("── anklet monitor")[0]:
            seen.add("alarm")
            assert block["episode"].endswith("(ALARM)"), block
            assert "ALARM: PROLONGED RHYTHMIC SHAKING" in block["alarm_rows"]
        if "rhythmic movement ended" in w.split("── anklet monitor")[0]:
            seen.add("end")
            assert block["episode"] == "none", block
        if block.get("episode", "none") != "none":  # the episode is shown live: when it began and for how long
            assert re.fullmatch(r"rhythmic movement for \d+ s, since \d\d:\d\d:\d\d( \((NOTICE|ALARM)\))?",
                                block["episode"]), block
    assert seen == {"notice", "alarm", "end"}


def test_alarms_are_banners_across_the_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # the terminal's width
    out = io.StringIO()
    view = StatusView(out, tty=True, color=True)
    view.line(START, "ALARM: PROLONGED RHYTHMIC SHAKING for 21 s at 1.2 Hz: check on the baby now", "alarm")
    rows = out.getvalue().splitlines()
    assert len(rows) >= 3 and all(r.startswith("\x1b[1;7;31m") for r in rows)  # reverse video, red
    assert all(len(re.sub(r"\x1b\[[0-9;]*m", "", r)) == 80 for r in rows)  # the full width
    plain = io.StringIO()
    StatusView(plain, tty=False).line(START, "ALARM: PROLONGED RHYTHMIC SHAKING", "alarm")
    bar, text, bar2 = plain.getvalue().splitlines()
    assert bar == bar2 and set(bar) == {"!"} and len(bar) > 60 and "ALARM: PROLONGED RHYTHMIC SHAKING" in text
    quiet = io.StringIO()
    StatusView(quiet, tty=False).line(START, "NOTICE: rhythmic shaking", "notice")
    assert quiet.getvalue().count("\n") == 1  # a notice is a line, not a banner


TIME = re.compile(r"\b\d{1,2}:\d\d(?::\d\d)?\b")
JARGON = ("bumble", "bleak", "supervision", "controller", "gatt", "ble ", "le secure", "linklost", "linkerror",
          "exception", "traceback", "t=", "boot", "seq ", "mtu", "lsm6ds", "firmware")


def check_parent_text(text: str) -> None:
    """One clock (HH:MM:SS), durations over a minute in minutes, no radio or library words."""
    for m in TIME.finditer(text):
        assert re.fullmatch(r"\d\d:\d\d:\d\d", m.group()), (m.group(), text[max(0, m.start() - 80):m.end() + 40])
    for m in re.finditer(r"(?<![\d.])(\d+(?:\.\d+)?) s(?![/\w])", text):
        assert float(m.group(1)) < 60, text[max(0, m.start() - 80):m.end() + 40]
    low = text.lower()
    for word in JARGON:
        assert word not in low, (word, low[max(0, low.index(word) - 100):low.index(word) + 60])


@pytest.mark.parametrize("link", ["auto", "inproc"])
def test_the_demo_speaks_to_parents(tmp_path, link):
    import subprocess
    import sys

    def demo(*extra):
        proc = subprocess.run([sys.executable, "-m", "anklet.cli", "demo", "--speed", "0", "--sound", "report",
                               "--no-notify", "--link", link, "--db", str(tmp_path / f"{len(extra)}.db"), *extra],
                              cwd=tmp_path, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    text = demo()
    assert "ALARM: PROLONGED RHYTHMIC SHAKING" in text and "band out of reach" in text
    check_parent_text(text)
    verbose = demo("--verbose")
    assert "link:" in verbose and "firmware" in verbose.lower()  # what it runs on, for developers


def test_radio_details_only_with_verbose(tmp_path):
    """A dropped link is "band out of reach" for parents; the link's own words come with --verbose."""
    for verbose in (False, True):
        rig = Rig(tmp_path / str(verbose), script=episode_script(30, 30), duration_s=200,
                  actions=[(60, lambda b: b.set_radio(False)), (70, lambda b: b.set_radio(True))])
        rig.monitor.view.verbose = verbose
        run(rig.run())
        text = rig.out.getvalue()
        assert text.count("band out of reach; reconnecting") == 1  # said once, not at every attempt
        assert ("LinkLost" in text) == verbose
        if not verbose:
            check_parent_text(text)


class SlowAnswers:
    """A parent who takes their time: the answers come when `go` is set."""

    def __init__(self, answers: str):
        self.go = threading.Event()
        self.lines = io.StringIO(answers)

    def readline(self):
        if not self.go.wait(30):
            return ""
        return self.lines.readline()


def test_triage_inside_the_monitor_holds_log_lines_but_not_alarms(tmp_path):
    """Questions asked inside the monitor: log lines wait for the answers; an ALARM goes over the question at
    once (and sounds), then the question is asked again."""
    answers = SlowAnswers("no\n" * 60)
    out = io.StringIO()
    started = {}

    def ask(band):
        started["task"] = asyncio.ensure_future(rig.monitor.triage(inp=answers, out=out))

    rig = Rig(tmp_path, script=episode_script(10, 40) + episode_script(100, 40), duration_s=200,
              actions=[(80, ask), (180, lambda b: answers.go.set())])
    rig.monitor.view = StatusView(out, tty=False, every_s=30)
    rig.monitor.view.source = rig.monitor.snapshot

    async def main():
        await rig.run(after=lambda r: started["task"])

    run(main())
    assert started["task"].result() is not None
    text = out.getvalue()
    asked = text.index("anklet triage: a few questions")
    answered = text.index("not a diagnosis")
    during = text[asked:answered]
    # The second episode's ALARM interrupted the questions, as a banner, and the question was asked again.
    assert "ALARM: PROLONGED RHYTHMIC SHAKING" in during
    banner = during.index("ALARM: PROLONGED")
    after_banner = during[banner:]
    assert "the questions go on below" in after_banner
    question = during[:banner].rstrip("!\n").rsplit("\n", 2)[-2]  # the question the banner went over
    assert question.strip() and question.strip() in after_banner
    # Everything else was held until the answers were in.
    for held in ("rhythmic movement started", "NOTICE: rhythmic shaking", "rhythmic movement ended"):
        assert held not in during, held
        assert held in text[answered:], held
    assert "status: band" not in during  # the periodic status waits for the next one after the answers
    assert "held while the questions were asked" in text[answered:]
    # The ALARM sounded while the questions were being asked.
    alarms = rig.raised("alarm")
    assert len(alarms) == 2 and alarms[1].sounded == "reported, not played"


def test_every_hint_the_monitor_prints_works_as_written(tmp_path):
    """The commands the monitor suggests (triage an episode, show a saved triage, acknowledge) run as printed."""
    import os
    import subprocess
    import sys

    out = io.StringIO()
    started = {}

    def ask(band):
        started["task"] = asyncio.ensure_future(rig.monitor.triage(inp=io.StringIO("no\n" * 60), out=io.StringIO()))

    rig = Rig(tmp_path, script=episode_script(10, 40), duration_s=150, actions=[(80, ask)])
    rig.monitor.view = StatusView(out, tty=False)
    run(rig.run(after=lambda r: started["task"]))
    text = out.getvalue()
    hints = re.findall(r"`(anklet [^`]+)`", text) + re.findall(r"\brun (anklet [^`\n]+?)\s*$", text, re.M)
    hints.append(getattr(rig.monitor.snapshot(), "ack_command", "anklet ack"))  # the status block's "press a (or run `...`)"
    kinds = {h.split()[1] for h in hints}
    assert {"triage", "ack"} <= kinds and any("--show" in h for h in hints), hints
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "anklet").write_text(f"#!/bin/sh\nexec {sys.executable} -m anklet.cli \"$@\"\n")
    (bindir / "anklet").chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", ANKLET_DB=str(tmp_path / "other.db"))
    for hint in hints:
        proc = subprocess.run(hint, shell=True, cwd=tmp_path, env=env, input="no\n" * 60, capture_output=True,
                              text=True, timeout=120)
        assert "error" not in proc.stderr and "Traceback" not in proc.stderr, (hint, proc.stderr)
        if hint.split()[1] == "ack":  # the monitor has stopped: it says so (exit 1), and acknowledges in the log
            assert proc.returncode == 1 and "no monitor is running" in proc.stdout, (hint, proc.stdout)
            assert all(a.acked_by == "cli" for a in rig.store.alarms())
        else:
            assert proc.returncode == 0, (hint, proc.stdout, proc.stderr)
        if "--show" in hint:
            assert "Triage of episode 1" in proc.stdout
