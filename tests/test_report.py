"""`anklet report`: the HTML (and PDF) night report, on nights built with the real detector and alarm rule."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from test_report_helpers import add_night, write_recording

from anklet.cli import main
from anklet.report import data as rdata
from anklet.report import make_report, raw
from anklet.store import Store
from anklet.triage.engine import DISCLAIMER, RECORD

NIGHT = date(2026, 11, 21)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def parse(path: Path) -> ET.Element:
    """The report strictly parsed as XML (it is written well-formed), doctype removed."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    return ET.fromstring(text.split("\n", 1)[1])


def text_of(root: ET.Element) -> str:
    return re.sub(r"\s+", " ", " ".join(root.itertext()))


def images(root: ET.Element) -> list[ET.Element]:
    imgs = list(root.iter("img"))
    for img in imgs:
        src = img.get("src", "")
        assert src.startswith("data:image/png;base64,"), src[:60]
        blob = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert blob.startswith(PNG_MAGIC) and len(blob) > 2000
        assert img.get("alt")
    return imgs


def assert_self_contained(root: ET.Element) -> None:
    for el in root.iter():
        for attr in ("src", "href"):
            v = el.get(attr)
            assert v is None or v.startswith(("data:", "#")), f"{el.tag} refers outside the file: {v[:60]}"
        assert el.tag not in ("script", "link", "iframe")


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "log.db")
    yield s
    s.close()


def test_empty_night_says_not_watching(store, tmp_path):
    add_night(store, NIGHT - timedelta(days=3))  # the log has something, but not that night
    out = tmp_path / "r.html"
    summary = make_report(store, [NIGHT], out, pdf_path=tmp_path / "r.pdf")
    assert summary["empty_nights"] == 1 and summary["episodes"] == 0
    root = parse(out)
    txt = text_of(root)
    assert "Nothing was logged for this night: anklet was not watching" in txt
    assert "NOT a night without episodes" in txt
    assert "No episode of prolonged" not in txt  # never reads as a quiet night
    assert DISCLAIMER in txt
    assert images(root) == []  # no timeline drawn over nothing
    assert_self_contained(root)
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")


def test_quiet_night(store, tmp_path):
    add_night(store, NIGHT, seizures=0, seed=7, minutes=15)
    out = tmp_path / "r.html"
    summary = make_report(store, [NIGHT], out)
    assert summary["episodes"] == 0 and summary["gaps"] == 0
    root = parse(out)
    txt = text_of(root)
    assert "No episode of prolonged rhythmic shaking was detected while anklet was watching" in txt
    assert "There was no gap in monitoring" in txt
    assert "anklet watched from 21:00 to 21:1" in txt
    assert [i.get("id") for i in images(root)] == [f"timeline-{NIGHT.isoformat()}"]
    assert_self_contained(root)


def test_night_with_episodes_and_faults(store, tmp_path):
    night = add_night(store, NIGHT, seizures=2, link_lost=(400, 700), battery_low_at=900, reset_at=1000,
                      triage_first=True)
    assert len(night.episode_ids) == 2
    ep = store.episode(night.episode_ids[0])
    rec_dir = tmp_path / "rec"
    rec_dir.mkdir()
    s0 = int(ep.onset_ms / 1000) - 30
    write_recording(night, rec_dir, s0, s0 + int(ep.duration_s) + 60)
    out = tmp_path / "r.html"
    summary = make_report(store, [NIGHT], out, pdf_path=tmp_path / "r.pdf", raw_specs=[str(rec_dir)])
    assert summary["recordings"] == 1 and summary["episodes"] == 2
    root = parse(out)
    txt = text_of(root)
    assert_self_contained(root)
    ids = [i.get("id") for i in images(root)]
    assert ids == [f"timeline-{NIGHT.isoformat()}", "episode-1-frequency", "episode-1-raw", "episode-2-frequency"]
    # Gaps shown plainly, with times: the link loss (from receive times and the monitor's fault), the battery.
    rows = [text_of(tr) for tr in root.iter("tr")]
    gap = next(r for r in rows if r.startswith("No data from the band"))
    assert "21:06" in gap and "21:11" in gap and "no alarm could sound" in gap
    assert any(r.startswith("Band battery low (still watching)") and "no end logged" in r for r in rows)
    assert any("The band restarted" in r for r in rows)
    assert "It was NOT watching for 5 min" in txt
    # Episode panels: times, frequency drift, amplitude, the alarms with their acknowledgement.
    assert f"Episode 1: {ep.onset:%a} {ep.onset.day} {ep.onset:%b %Y}, {ep.onset:%H:%M:%S}" in txt
    assert f"{ep.f_start_hz:.1f} Hz at the start, {ep.f_end_hz:.1f} Hz at the end" in txt
    assert f"{ep.amp_mg} mg" in txt
    assert "acknowledged" in txt and "(test parent)" in txt
    # The saved triage: the answers, the headline and advice exactly as the triage package gave them.
    tr = store.triage_for(ep.id)
    assert tr is not None
    assert tr["result"]["headline"] in txt
    for advice in tr["result"]["advice"]:
        assert advice in txt
    assert "Did the legs or body go stiff?" in txt
    # Episode 2 was not triaged: the report says how to do it, and has no raw signal to show.
    assert f"anklet triage {night.episode_ids[1]}" in txt
    assert "No raw recording covers this episode" in txt
    # The checklist: every item of the documents, cited, with what the log holds filled in.
    for item, src in RECORD:
        assert item in txt and src["file"] in txt
    assert "stiffness: yes" in txt and "baby was: asleep" in txt
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")


def test_range_of_nights_with_trends(store, tmp_path):
    add_night(store, NIGHT, seizures=1, seed=3, minutes=12)
    add_night(store, NIGHT + timedelta(days=2), seizures=2, seed=4, minutes=20, boot=2)
    out = tmp_path / "r.html"
    summary = make_report(store, [NIGHT + timedelta(days=i) for i in range(3)], out, pdf_path=tmp_path / "r.pdf")
    assert summary["nights"] == 3 and summary["empty_nights"] == 1
    root = parse(out)
    txt = text_of(root)
    assert "anklet report: 3 nights" in txt
    ids = [i.get("id") for i in images(root)]
    assert "trends" in ids
    assert ids.count(f"timeline-{NIGHT.isoformat()}") == 1
    assert f"timeline-{(NIGHT + timedelta(days=1)).isoformat()}" not in ids
    glance = [text_of(tr) for tr in root.iter("tr")]
    assert any(r.startswith("Sun 22 Nov 2026 not watching") for r in glance)
    # Episode numbers run through the whole report.
    nums = re.findall(r"Episode (\d+):", txt)
    assert nums == [str(i) for i in range(1, summary["episodes"] + 1)]
    assert summary["episodes"] >= 2


def test_receive_gap_without_any_fault_is_a_gap(store, tmp_path):
    """Hours in which no monitor ran raise no fault; the receive times still show the hole."""
    night = add_night(store, NIGHT, seizures=0, minutes=10)
    add_night(store, NIGHT, seizures=0, minutes=10, seed=10, boot=2,
              start=datetime.fromtimestamp(night.base + 3600).astimezone().time())
    nd = rdata.gather_night(store, NIGHT)
    off = [g for g in nd.gaps if not g.watching]
    assert len(off) == 1 and off[0].kind == "no_data"
    assert 2900 < off[0].duration_s < 3100
    assert nd.watched_s < nd.span_s - 2900


def test_night_window_and_latest_night(store):
    a, b = rdata.night_window(NIGHT)
    assert (b - a) == timedelta(hours=24) and a.hour == 12
    assert rdata.night_of(datetime(2026, 11, 22, 3, 0).astimezone()) == NIGHT
    assert rdata.night_of(datetime(2026, 11, 21, 13, 0).astimezone()) == NIGHT
    assert rdata.latest_night(store) is None
    add_night(store, NIGHT)
    assert rdata.latest_night(store) == NIGHT


def test_raw_recordings_are_placed_or_refused(store, tmp_path):
    night = add_night(store, NIGHT, minutes=5)
    by_name = write_recording(night, tmp_path, 10, 40)
    side = write_recording(night, tmp_path, 60, 90, how="sidecar")
    rec = raw.load(by_name)
    assert rec.start == night.wall(10) and rec.placed_by == "file name"
    assert raw.load(side).placed_by == "sidecar" and raw.load(side).start == night.wall(60)
    bare = tmp_path / "bare" / "x.csv"
    bare.parent.mkdir()
    bare.write_text(by_name.read_text())
    with pytest.raises(raw.RawError, match="cannot tell when this recording started"):
        raw.find([str(bare)])
    recs, warnings = raw.find([str(bare.parent)])  # in a directory: skipped with a warning, not guessed
    assert recs == [] and "cannot tell when" in warnings[0]
    recs, _ = raw.find([f"{bare}@2026-11-21T21:00:10"])
    assert recs[0].placed_by == "command line" and recs[0].start.hour == 21
    assert len(recs[0].t) == 30 * 52


def test_cli(store, tmp_path, capsys):
    add_night(store, NIGHT, seizures=1, minutes=10)
    db = str(store.path)
    out = tmp_path / "night.html"
    assert main(["report", "--db", db, "--out", str(out), "--pdf"]) == 0  # default: the latest night
    assert "1 night" in capsys.readouterr().out
    assert out.exists() and out.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    assert NIGHT.strftime("%a %-d %b %Y") in text_of(parse(out))
    for argv, msg in (
        (["--night", "2026-11-21", "--from", "2026-11-20"], "not both"),
        (["--to", "2026-11-21"], "--to needs --from"),
        (["--from", "2026-11-22", "--to", "2026-11-21"], "before"),
        (["--night", "21/11/2026"], "YYYY-MM-DD"),
        (["--from", "2026-01-01", "--to", "2026-12-31"], "too many"),
        (["--raw", str(tmp_path / "nope")], "no such file"),
    ):
        assert main(["report", "--db", db, "--out", str(out), *argv]) == 2
        assert msg in capsys.readouterr().err
    assert main(["report", "--db", db, "--out", str(tmp_path / "r.txt")]) == 2
    assert main(["report", "--db", str(tmp_path / "none.db"), "--out", str(out)]) == 2
    assert "no log at" in capsys.readouterr().err
    assert main(["report", "--db", db, "--from", "2026-11-20", "--out", str(out)]) == 0
    assert "2 nights" in capsys.readouterr().out


def test_open_episode_and_episode_without_updates(store, tmp_path):
    """An episode whose END never arrived (the band reset mid-episode) is shown as open, never as finished."""
    from anklet.records import DeviceEvent

    base = datetime(2026, 11, 21, 23, 0).astimezone().timestamp()
    evs = [DeviceEvent("start", 60_000, {"onset_ms": 54_000, "freq_chz": 450, "rhythm": 900, "amp_mg": 150}, 1, 1),
           DeviceEvent("update", 64_000, {"onset_ms": 54_000, "dur_ms": 10_000, "freq_chz": 440, "rhythm": 900,
                                          "amp_mg": 160, "drift_chz": -10}, 2, 1)]
    store.add_events("b", evs, base + 64.1)
    out = tmp_path / "r.html"
    make_report(store, [NIGHT], out, pdf_path=tmp_path / "r.pdf")
    txt = text_of(parse(out))
    assert "10 s so far (no end logged)" in txt
    assert "4.5 Hz at the start, 4.4 Hz at the end (slowing by 0.1 Hz)" in txt
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
