"""The report as a PDF, laid out on A4 pages with matplotlib's PdfPages: the same blocks as the HTML.

Chosen because it needs nothing beyond matplotlib (already used for the plots): no browser, no TeX, no system
libraries, so it works the same on a fresh machine with only PyPI. A small flow layout places the blocks top to
bottom and starts a new page when one is full; an episode's panel moves to the next page whole when it would
otherwise be split and fits on one page. Text uses the DejaVu Sans font matplotlib ships. Plots are placed as
200 dpi images of the very same drawings the HTML embeds.
"""

from __future__ import annotations

import functools
import io
from datetime import datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mimage  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.textpath import TextToPath  # noqa: E402

from . import plots  # noqa: E402
from .doc import Block, Bullets, Group, Heading, Para, Plot, Table  # noqa: E402

PAGE_W, PAGE_H = 8.27, 11.69  # A4, inches; the margins leave room for Letter (8.5 x 11) too
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 0.6, 0.55, 0.75
WIDTH = PAGE_W - 2 * MARGIN_X
PLOT_DPI = 200
HEAD_SIZES = {1: 15.0, 2: 12.5, 3: 10.5, 4: 9.0}
FILLS = {"warn": "#fff3cd", "ok": "#e8f4ea", "note": "#eef3f8", "disclaimer": "#ffffff"}
ROW_FILLS = {"warn": "#fff3cd", "missing": "#fdf6e3"}
LEVEL_FILLS = {"level-notice": "#fdd049", "level-alarm": "#f28e2b", "level-escalation": "#b2182b",
               "level-soon": "#fdd049", "level-urgent": "#f28e2b", "level-emergency": "#b2182b",
               "level-routine": "#9ecae1"}


_T2P = TextToPath()
_FONTS = {bold: FontProperties(family="DejaVu Sans", weight="bold" if bold else "normal") for bold in (False, True)}
FIT = 1.03  # a little room for kerning and rounding: measured words summed are within a few % of the line


@functools.lru_cache(maxsize=50_000)
def text_w(s: str, size: float, bold: bool = False) -> float:
    """The width of `s` in inches, as matplotlib will draw it (DejaVu Sans)."""
    if not s:
        return 0.0
    font = _FONTS[bold].copy()
    font.set_size(size)
    w, _h, _d = _T2P.get_text_width_height_descent(s, font, ismath=False)
    return float(w) / 72 * FIT


def _break_word(word: str, width_in: float, size: float, bold: bool) -> list[str]:
    parts, cur = [], ""
    for ch in word:
        if cur and text_w(cur + ch, size, bold) > width_in:
            parts.append(cur)
            cur = ch
        else:
            cur += ch
    return parts + [cur]


def _wrap(text: str, width_in: float, size: float, bold: bool = False) -> list[str]:
    """Lines of `text` that each fit `width_in` when drawn: words measured with the real font, not estimated."""
    out: list[str] = []
    space = text_w(" ", size, bold)
    for part in text.split("\n"):
        line, line_w = "", 0.0
        for word in part.split():
            ww = text_w(word, size, bold)
            if line and line_w + space + ww <= width_in:
                line, line_w = line + " " + word, line_w + space + ww
                continue
            if line:
                out.append(line)
            if ww > width_in:  # a word wider than the column: break it rather than draw past the edge
                *full, word = _break_word(word, width_in, size, bold)
                out += full
                ww = text_w(word, size, bold)
            line, line_w = word, ww
        out.append(line)
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
    bold = p.style == "lead" or p.style.startswith("level-") or bool(p.strong)  # bold is wider: measure as bold
    return _wrap(text, width - (0.2 if p.style else 0), size, bold), size


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


PAD = 0.1  # a cell's left and right padding together, inches (the level mark adds 0.04 in the first column)


def _table_cols(t: Table, width: float, size: float) -> list[float]:
    """Column widths that fit `width`: each at least its widest word, then by the room its longest cell wants."""
    rows = ([t.header] if t.header else []) + t.rows
    ncol = max(len(r) for r in rows)
    longest = [0.0] * ncol
    word = [0.0] * ncol
    for ri, r in enumerate(rows):
        bold = bool(t.header) and ri == 0
        for i, c in enumerate(r):
            pad = PAD + (0.04 if i == 0 else 0.0)
            longest[i] = max(longest[i], min(text_w(c, size, bold or (t.style == "facts" and i == 0)) + pad,
                                             width * 0.6))
            # a very long "word" (a web address) may break; it must not squeeze the other columns' words
            word[i] = max([word[i]] + [min(text_w(w, size, bold) + pad, width * 0.4) for w in c.split()])
    if sum(longest) <= width:  # everything fits on one line: spread the spare room evenly
        spare = (width - sum(longest)) / ncol
        return [w + spare for w in longest]
    base = word if sum(word) <= width else [w * width / sum(word) for w in word]
    spare = width - sum(base)
    extra = [max(0.0, n - b) for n, b in zip(longest, base, strict=True)]
    tot = sum(extra) or 1.0
    return [b + spare * e / tot for b, e in zip(base, extra, strict=True)]


def _table_rows(t: Table, width: float) -> tuple[list[list[list[str]]], list[float], list[float], float]:
    size = 7.2 if t.style == "compact" else 8.0
    cols = _table_cols(t, width, size)
    rows = ([t.header] if t.header else []) + t.rows
    wrapped = [[_wrap(c, w - PAD - (0.04 if j == 0 else 0.0), size,
                      (bool(t.header) and i == 0) or (t.style == "facts" and j == 0))
                for j, (c, w) in enumerate(zip(r, cols, strict=False))] for i, r in enumerate(rows)]
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
                lay.text(x + inset + text_w(b.strong + " ", size, True), lay.y, rest.lstrip(), size,
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
            lay.text(cx + PAD / 2 + (0.04 if j == 0 and style in LEVEL_FILLS else 0), lay.y + 0.025 + k * _line_h(size),
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
