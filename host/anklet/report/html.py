"""The report as one self-contained HTML file: no scripts, no links out, images embedded as PNG data URIs.

The markup is also well-formed XML (every element closed, every text escaped), so tests parse it strictly.
The style sheet sizes the page for print on A4 and Letter alike (content 180 mm wide) and keeps an episode's
panel on one page where it fits.
"""

from __future__ import annotations

import base64
from html import escape

from . import plots
from .doc import Block, Bullets, Group, Heading, Para, Plot, Table

CSS = """
@page { margin: 12mm 14mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #222; font-size: 10.5pt;
       line-height: 1.4; max-width: 190mm; margin: 0 auto; padding: 8mm 6mm; background: #fff; }
h1 { font-size: 18pt; margin: 0 0 2mm; }
h2 { font-size: 14pt; margin: 7mm 0 2mm; border-bottom: 2px solid #444; padding-bottom: 1mm; }
h3 { font-size: 11.5pt; margin: 0 0 2mm; }
h4 { font-size: 10pt; margin: 3mm 0 1mm; }
p { margin: 1.5mm 0; }
.small { font-size: 8.5pt; color: #444; }
.lead { font-size: 11pt; font-weight: bold; }
.warn { background: #fff3cd; border-left: 4px solid #b8860b; padding: 1.5mm 3mm; }
.ok { background: #e8f4ea; border-left: 4px solid #2e7d32; padding: 1.5mm 3mm; }
.note { background: #eef3f8; border-left: 4px solid #5b7fa6; padding: 1.5mm 3mm; }
.box { border: 2px solid #444; padding: 2mm 4mm; margin: 3mm 0; }
.disclaimer { font-size: 9.5pt; }
.panel { border: 1px solid #999; border-radius: 2mm; padding: 3mm 4mm; margin: 4mm 0; break-inside: avoid;
         page-break-inside: avoid; }
table { border-collapse: collapse; width: 100%; margin: 1.5mm 0; font-size: 9pt; }
th, td { border: 1px solid #bbb; padding: 1mm 2mm; text-align: left; vertical-align: top; }
th { background: #eee; }
table.facts td:first-child { width: 30%; font-weight: bold; background: #f6f6f6; }
table.compact { font-size: 8.5pt; }
tr.missing td:nth-child(2) { color: #8a5a00; font-style: italic; }
tr.warn td { background: #fff3cd; }
tr.level-notice td:first-child, p.level-soon { border-left: 5px solid #fdd049; }
tr.level-alarm td:first-child, p.level-urgent { border-left: 5px solid #f28e2b; }
tr.level-escalation td:first-child, p.level-emergency { border-left: 5px solid #b2182b; }
p.level-routine, tr.level-None td:first-child { border-left: 5px solid #9ecae1; }
td.nw { white-space: nowrap; }
p[class^="level-"] { padding-left: 3mm; font-weight: bold; }
img { display: block; max-width: 100%; height: auto; margin: 2mm 0; break-inside: avoid; }
h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
ul { margin: 1mm 0 1mm 5mm; padding-left: 4mm; }
.pagebreak { break-before: page; page-break-before: always; }
@media print { body { padding: 0; max-width: none; } h2.pagebreak { margin-top: 0; } }
@media screen { .pagebreak { margin-top: 12mm; } }
"""


def _text(s: str) -> str:
    return escape(s, quote=True)


def _para(p: Para) -> str:
    cls = f' class="{_text(p.style)}"' if p.style else ""
    lead = f"<strong>{_text(p.strong)}</strong> " if p.strong else ""
    return f"<p{cls}>{lead}{_text(p.text)}</p>"


def _table(t: Table) -> str:
    cls = f' class="{_text(t.style)}"' if t.style else ""
    out = [f"<table{cls}>"]
    if t.header:
        out.append("<thead><tr>" + "".join(f"<th>{_text(h)}</th>" for h in t.header) + "</tr></thead>")
    out.append("<tbody>")
    for i, row in enumerate(t.rows):
        style = t.row_styles[i] if i < len(t.row_styles) else ""
        rcls = f' class="{_text(style)}"' if style else ""
        # Short cells (times, durations) never wrap: "21 min 00 s" stays on one line.
        out.append(f"<tr{rcls}>" + "".join(f'<td class="nw">{_text(c)}</td>' if len(c) <= 14 else f"<td>{_text(c)}</td>"
                                           for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _plot(p: Plot) -> str:
    data = base64.b64encode(plots.png(p.draw, p.w_in, p.h_in)).decode("ascii")
    # Displayed at the size it was drawn, so fonts read the same on screen and paper.
    return (f'<img src="data:image/png;base64,{data}" alt="{_text(p.alt)}" id="{_text(p.key)}" '
            f'style="width: {p.w_in * 25.4:.0f}mm"/>')


def block(b: Block) -> str:
    if isinstance(b, Heading):
        lvl = min(max(b.level, 1), 4)
        attrs = f' id="{_text(b.anchor)}"' if b.anchor else ""
        if b.new_page:
            attrs += ' class="pagebreak"'
        return f"<h{lvl}{attrs}>{_text(b.text)}</h{lvl}>"
    if isinstance(b, Para):
        return _para(b)
    if isinstance(b, Bullets):
        cls = f' class="{_text(b.style)}"' if b.style else ""
        return f"<ul{cls}>" + "".join(f"<li>{_text(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Plot):
        return _plot(b)
    if isinstance(b, Group):
        cls = f' class="{_text(b.style)}"' if b.style else ""
        return f"<div{cls}>" + "\n".join(block(x) for x in b.blocks) + "</div>"
    raise TypeError(f"unknown block {b!r}")


def render(blocks: list[Block], title: str) -> str:
    body = "\n".join(block(b) for b in blocks)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8"/>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>\n'
        '<meta name="generator" content="anklet report"/>\n'
        f"<title>{_text(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
