"""The report as a PDF, laid out on A4 pages with matplotlib's PdfPages: the same blocks as the HTML.

Chosen because it needs nothing beyond matplotlib (already used for the plots): no browser, no TeX, no system
libraries, so it works the same on a fresh machine with only PyPI. A small flow layout places the blocks top to
bottom and starts a new page when one is full; an episode's panel moves to the next page whole when it would
otherwise be split and fits on one page. Text uses the DejaVu Sans font matplotlib ships. Plots are placed as
200 dpi images of the very same drawings the HTML embeds.
"""

from __future__ import annotations

import io
import textwrap
from datetime import datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mimage  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from . import plots  # noqa: E402
from .doc import Block, Bullets, Group, Heading, Para, Plot, Table  # noqa: E402

PAGE_W, PAGE_H = 8.27, 11.69  # A4, inches; the margins leave room for Letter (8.5 x 11) too
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 0.6, 0.55, 0.75
WIDTH = PAGE_W - 2 * MARGIN_X
CHAR_W = 0.55  # DejaVu Sans: mean character width as a fraction of the font size
PLOT_DPI = 200
HEAD_SIZES = {1: 15.0, 2: 12.5, 3: 10.5, 4: 9.0}
FILLS = {"warn": "#fff3cd", "ok": "#e8f4ea", "note": "#eef3f8", "disclaimer": "#ffffff"}
ROW_FILLS = {"warn": "#fff3cd", "missing": "#fdf6e3"}
LEVEL_FILLS = {"level-notice": "#fdd049", "level-alarm": "#f28e2b", "level-escalation": "#b2182b",
               "level-soon": "#fdd049", "level-urgent": "#f28e2b", "level-emergency": "#b2182b",
               "level-routine": "#9ecae1"}


def _chars(width_in: float, size: float) -> int:
    return max(8, int(width_in * 72 / (size * CHAR_W)))


def _wrap(text: str, width_in: float, size: float) -> list[str]:
    out: list[str] = []
    for part in text.split("\n"):
        out += textwrap.wrap(part, _chars(width_in, size), break_long_words=True, break_on_hyphens=False) or [""]
    return out


def _line_h(size: float) -> float:
    return size * 1.32 / 72


class Layout:
    def __init__(self, pdf: PdfPages, title: str) -> None:
        self.pdf = pdf
        self.title = title
        self.page_no = 0
        self.fig: Figure | None = None
        self.y = 0.0  # inches from the top of the page
        self.new_page()

    # -- pages ---------------------------------------------------------------------------------
    def new_page(self) -> None:
        self.finish_page()
        self.page_no += 1
        self.fig = Figure(figsize=(PAGE_W, PAGE_H))
        self.y = MARGIN_TOP
        foot = f"{self.title}  |  page {self.page_no}  |  not a diagnosis: see the statement on the first page"
        self.fig.text(MARGIN_X / PAGE_W, 0.35 / PAGE_H, foot, fontsize=7, color="#666666")

    def finish_page(self) -> None:
        if self.fig is not None:
            self.pdf.savefig(self.fig)
            self.fig = None

    @property
    def room(self) -> float:
        return PAGE_H - MARGIN_BOTTOM - self.y

    def need(self, h: float) -> None:
        if h > self.room and self.y > MARGIN_TOP + 0.01:
            self.new_page()

    # -- drawing primitives ---------------------------------------------------------------------
    def text(self, x: float, y: float, s: str, size: float, **kw: Any) -> None:
        assert self.fig is not None
        self.fig.text(x / PAGE_W, 1 - y / PAGE_H, s, fontsize=size, va="top", ha="left", **kw)

    def rect(self, x: float, y: float, w: float, h: float, **kw: Any) -> None:
        assert self.fig is not None
        self.fig.add_artist(Rectangle((x / PAGE_W, 1 - (y + h) / PAGE_H), w / PAGE_W, h / PAGE_H,
                                      transform=self.fig.transFigure, **kw))


# -- block heights and drawing ----------------------------------------------------------------------


def _para_lines(p: Para, width: float) -> tuple[list[str], float]:
    size = 10.0 if p.style == "lead" else 7.5 if p.style == "small" else 8.8
    text = (p.strong + " " if p.strong else "") + p.text
    return _wrap(text, width - (0.2 if p.style else 0), size), size


def height(b: Block, width: float = WIDTH) -> float:
    if isinstance(b, Heading):
        return _line_h(HEAD_SIZES.get(b.level, 9)) + (0.18 if b.level <= 2 else 0.06)
    if isinstance(b, Para):
        lines, size = _para_lines(b, width)
        return len(lines) * _line_h(size) + (0.16 if b.style else 0.07)
    if isinstance(b, Bullets):
        size = 7.5 if b.style == "small" else 8.5
        return sum(len(_wrap(i, width - 0.25, size)) for i in b.items) * _line_h(size) + 0.08
    if isinstance(b, Table):
        return sum(h for h in _table_rows(b, width)[1]) + 0.1
    if isinstance(b, Plot):
        w = min(b.w_in, width)
        return b.h_in * w / b.w_in + 0.1
    if isinstance(b, Group):
        return sum(height(x, width - 0.3) for x in b.blocks) + 0.25
    raise TypeError(f"unknown block {b!r}")


def _table_cols(t: Table, width: float, size: float) -> list[float]:
    ncol = max(len(r) for r in ([t.header] if t.header else []) + t.rows)
    longest = [0] * ncol
    word = [0] * ncol
    for r in ([t.header] if t.header else []) + t.rows:
        for i, c in enumerate(r):
            longest[i] = max(longest[i], min(len(c), 60))
            word[i] = max([word[i]] + [len(w) + 3 for w in c.split()])  # + the cell padding
    if t.style == "facts":
        longest[0] = max(longest[0], 18)
    chars = _chars(width, size)
    # Every column at least as wide as its longest word (file names must not break), the rest by content.
    base = [min(w, chars // max(1, ncol)) for w in word]
    spare = max(0, chars - sum(base))
    extra = [max(0, n - b) for n, b in zip(longest, base, strict=True)]
    tot = sum(extra) or 1
    return [width * (b + spare * e / tot) / chars for b, e in zip(base, extra, strict=True)]


def _table_rows(t: Table, width: float) -> tuple[list[list[list[str]]], list[float], list[float], float]:
    size = 7.2 if t.style == "compact" else 8.0
    cols = _table_cols(t, width, size)
    rows = ([t.header] if t.header else []) + t.rows
    wrapped = [[_wrap(c, w - 0.08, size) for c, w in zip(r, cols, strict=False)] for r in rows]
    heights = [max(len(c) for c in r) * _line_h(size) + 0.05 for r in wrapped]
    return wrapped, heights, cols, size


def draw(lay: Layout, b: Block, x: float = MARGIN_X, width: float = WIDTH) -> None:
    if isinstance(b, Group):
        h = height(b, width)
        if h <= PAGE_H - MARGIN_TOP - MARGIN_BOTTOM:
            lay.need(h)
        if b.style == "box":
            top = lay.y
            start_page = lay.page_no
            lay.y += 0.08
            for x_ in b.blocks:
                draw(lay, x_, x + 0.15, width - 0.3)
            if lay.page_no == start_page:
                lay.rect(x, top, width, lay.y - top, fill=False, lw=1.5, ec="#444444")
            lay.y += 0.12
            return
        lay.y += 0.05
        if b.style == "panel":
            lay.rect(x, lay.y, width, 0.025, color="#999999", lw=0)
            lay.y += 0.1
        for x_ in b.blocks:
            draw(lay, x_, x + 0.1, width - 0.2)
        lay.y += 0.1
        return
    h = height(b, width)
    if isinstance(b, Heading):
        if b.new_page and lay.y > MARGIN_TOP + 0.01:
            lay.new_page()
        lay.need(h + 0.6)  # keep a heading with what follows it
        size = HEAD_SIZES.get(b.level, 9)
        lay.y += 0.12 if b.level <= 2 else 0.04
        lay.text(x, lay.y, b.text, size, weight="bold")
        lay.y += _line_h(size) + 0.04
        if b.level == 2:
            lay.rect(x, lay.y - 0.02, width, 0.012, color="#444444", lw=0)
            lay.y += 0.04
        return
    if isinstance(b, Para):
        lines, size = _para_lines(b, width)
        inset = 0.1 if b.style else 0.0
        for i, line in enumerate(lines):
            lay.need(_line_h(size) + 0.05)
            if i == 0 or lay.y <= MARGIN_TOP + 0.01:
                lay.y += 0.04 if b.style else 0.02
            fill = FILLS.get(b.style) or LEVEL_FILLS.get(b.style)
            if fill and b.style in FILLS:
                lay.rect(x, lay.y - 0.02, width, _line_h(size) + 0.02, color=fill, lw=0)
            elif fill:
                lay.rect(x, lay.y - 0.02, 0.05, _line_h(size) + 0.02, color=fill, lw=0)
            bold = i == 0 and b.strong
            if bold:
                lay.text(x + inset, lay.y, b.strong, size, weight="bold", color="#222222")
                rest = line[len(b.strong):]
                lay.text(x + inset + (len(b.strong) + 1) * size * CHAR_W / 72 * 1.05, lay.y, rest, size,
                         color="#222222")
            else:
                lay.text(x + inset, lay.y, line, size, color="#222222",
                         weight="bold" if b.style == "lead" or b.style.startswith("level-") else "normal")
            lay.y += _line_h(size)
        lay.y += 0.06
        return
    if isinstance(b, Bullets):
        size = 7.5 if b.style == "small" else 8.5
        for item in b.items:
            lines = _wrap(item, width - 0.25, size)
            lay.need(_line_h(size) * min(2, len(lines)))
            lay.text(x + 0.08, lay.y, "\u2022", size)
            for line in lines:
                lay.need(_line_h(size))
                lay.text(x + 0.25, lay.y, line, size, color="#222222")
                lay.y += _line_h(size)
        lay.y += 0.06
        return
    if isinstance(b, Table):
        wrapped, heights, cols, size = _table_rows(b, width)
        header = bool(b.header)
        for i, (cells, rh) in enumerate(zip(wrapped, heights, strict=True)):
            if rh > lay.room:
                lay.new_page()
                if header and i > 0:  # repeat the header on the new page
                    _row(lay, wrapped[0], cols, heights[0], size, x, "header")
            style = "header" if header and i == 0 else (b.row_styles[i - header] if i - header < len(b.row_styles)
                                                        else "")
            if b.style == "facts" and not style:
                style = "facts"
            _row(lay, cells, cols, rh, size, x, style)
        lay.y += 0.08
        return
    if isinstance(b, Plot):
        lay.need(h)
        w = min(b.w_in, width)
        ph = b.h_in * w / b.w_in
        img = mimage.imread(io.BytesIO(_png(b)), format="png")
        assert lay.fig is not None
        ax = lay.fig.add_axes((x / PAGE_W, 1 - (lay.y + ph) / PAGE_H, w / PAGE_W, ph / PAGE_H))
        ax.imshow(img, interpolation="lanczos")
        ax.set_axis_off()
        lay.y += ph + 0.1
        return
    raise TypeError(f"unknown block {b!r}")


def _png(p: Plot) -> bytes:
    fig = Figure(figsize=(p.w_in, p.h_in), dpi=PLOT_DPI)
    p.draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PLOT_DPI, facecolor="white")
    return buf.getvalue()


def _row(lay: Layout, cells: list[list[str]], cols: list[float], rh: float, size: float, x: float, style: str) -> None:
    cx = x
    for j, (lines, cw) in enumerate(zip(cells, cols, strict=False)):
        fill = "#eeeeee" if style == "header" else "#f6f6f6" if style == "facts" and j == 0 else ROW_FILLS.get(style)
        if fill:
            lay.rect(cx, lay.y, cw, rh, color=fill, lw=0)
        lay.rect(cx, lay.y, cw, rh, fill=False, lw=0.4, ec="#bbbbbb")
        if j == 0 and style in LEVEL_FILLS:
            lay.rect(cx, lay.y, 0.05, rh, color=LEVEL_FILLS[style], lw=0)
        for k, line in enumerate(lines):
            weight = "bold" if style == "header" or (style == "facts" and j == 0) else "normal"
            italic = "italic" if style == "missing" and j == 1 else "normal"
            lay.text(cx + 0.04 + (0.04 if j == 0 and style in LEVEL_FILLS else 0), lay.y + 0.025 + k * _line_h(size),
                     line, size, weight=weight, style=italic, color="#8a5a00" if italic == "italic" else "#222222")
        cx += cw
    lay.y += rh


def render(blocks: list[Block], title: str) -> bytes:
    """The PDF bytes."""
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": title, "Creator": "anklet report",
                                 "CreationDate": datetime.now().astimezone()}) as pdf:
        lay = Layout(pdf, title)
        for b in blocks:
            draw(lay, b)
        lay.finish_page()
    return buf.getvalue()


__all__ = ["render", "plots"]
