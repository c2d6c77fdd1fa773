"""The report as parents and the doctor read it: what the band measured is not shown as the parents' answers,
plots stay within the episode, the movement chart says where it is cut, and nothing in the PDF or the plots is
drawn over something else (table cells, bold labels, night labels across six nights)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from test_report import parse, text_of
from test_report_helpers import add_night

from anklet.report import build, pdf, plots
from anklet.report.data import gather
from anklet.store import Store

FIRST = date(2026, 11, 21)
DAYS = [FIRST + timedelta(days=i) for i in range(6)]


@pytest.fixture(scope="module")
def six(tmp_path_factory):
    """Six short nights: episodes with and without alarm, triaged; a link loss; a battery fault."""
    path = tmp_path_factory.mktemp("six") / "six.db"
    store = Store(path)
    for i, day in enumerate(DAYS):
        add_night(store, day, seed=i + 2, minutes=8, seizures=1 if i % 2 == 0 else 0, triage_first=True,
                  durations=(6.0, 8.0) if i == 2 else (40.0, 60.0), link_lost=(200, 320) if i == 1 else None,
                  battery_low_at=300 if i == 3 else None)
    yield store
    store.close()


def _boxes(fig: Figure) -> list[tuple[str, object]]:
    renderer = FigureCanvasAgg(fig).get_renderer()
    out = []
    for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent")):
        if not t.get_visible() or not t.get_text().strip():
            continue
        out.append((t.get_text(), t.get_window_extent(renderer)))
    return out


def _overlaps(boxes, tol: float = 0.5) -> list[tuple[str, str]]:
    bad = []
    for i, (ta, a) in enumerate(boxes):
        for tb, b in boxes[i + 1:]:
            if (a.x0 + tol < b.x1 and b.x0 + tol < a.x1 and a.y0 + tol < b.y1 and b.y0 + tol < a.y1):
                bad.append((ta, tb))
    return bad


def test_pdf_text_never_overlaps_or_runs_off_the_page(six, tmp_path, monkeypatch):
    pages: list[Figure] = []
    finish = pdf.Layout.finish_page

    def keep(self):
        if self.fig is not None:
            pages.append(self.fig)
        finish(self)

    monkeypatch.setattr(pdf.Layout, "finish_page", keep)
    nights = gather(six, DAYS[:3])  # alarm and no-alarm episodes, triaged, a link loss: every kind of table
    blocks = build.document(nights, title="three nights", db_text="six.db")
    monkeypatch.setattr(pdf, "_png", lambda p: _blank_png())  # the plots are tested apart; text is what matters
    pdf.render(blocks, "three nights")
    assert len(pages) >= 3
    for n, fig in enumerate(pages, 1):
        boxes = _boxes(fig)
        right = fig.bbox.width - (pdf.MARGIN_X - 0.05) * fig.dpi
        assert _overlaps(boxes) == [], f"page {n}"
        assert [t for t, b in boxes if b.x1 > right] == [], f"page {n}"


def _blank_png() -> bytes:
    import io

    fig = Figure(figsize=(1, 1), dpi=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_trend_labels_do_not_collide(six):
    nights = gather(six, DAYS)
    for many in (nights, nights * 5):  # six nights, and a month
        fig = Figure(figsize=(7.5, 2.4), dpi=100)
        plots.draw_trends(fig, many)
        renderer = FigureCanvasAgg(fig).get_renderer()
        for ax in fig.axes:
            labels = [t for t in ax.get_xticklabels() if t.get_text()]
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels]
            assert _overlaps(boxes) == [], [t for t, _ in boxes]


def test_episode_plot_ends_with_the_episode_and_the_cut_is_said(six):
    nights = gather(six, DAYS)
    views = [v for n in nights for v in n.episodes]
    assert views
    for v in views:
        fig = Figure(figsize=(6.3, 2.0))
        plots.draw_frequency(fig, v)
        ax = fig.axes[0]
        assert ax.get_xlim()[1] == pytest.approx(max(v.episode.duration_s, 1.0))
        for line in ax.get_lines() + (fig.axes[1].get_lines() if len(fig.axes) > 1 else []):
            assert max(line.get_xdata(), default=0) <= max(v.episode.duration_s, 1.0)
    night = next(n for n in nights if n.activity)
    fig = Figure(figsize=(7.5, 2.6))
    plots.draw_timeline(fig, night)
    mov = fig.axes[0]
    top = mov.get_ylim()[1]
    cut = [mg for _, mg, _ in night.activity if mg > top]
    said = [t.get_text() for t in mov.texts if "cut" in t.get_text()]
    assert bool(cut) == bool(said), (cut, said)


def test_band_values_are_not_the_parents_answers(six, tmp_path):
    from anklet.report import make_report

    out = tmp_path / "r.html"
    make_report(six, DAYS[:1], out)
    root = parse(out)
    answers = [t for t in root.iter("table") if "parents' answer" in text_of(t)]
    assert answers
    for table in answers:
        txt = text_of(table)
        assert "About how many seconds" not in txt and "rhythmic (regular beats" not in txt
    txt = text_of(root)
    assert "Filled in from the band's log, not asked:" in txt and "duration: " in txt
    assert "parents: rhythmic" not in txt
    # Titles for parents in the body; rule ids and file names in the appendix only.
    body, appendix = txt.split("How to read this report")
    assert "Baby Leg Shaking in Sleep" in body
    assert "_013d16051676edfb.txt" not in body and "seizure-like-not-stopped" not in body
    assert "seizure-like-not-stopped" in appendix and "003_013d16051676edfb.txt" in appendix
    assert Path(out).stat().st_size > 0
