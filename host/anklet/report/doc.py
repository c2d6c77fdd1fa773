"""The report as a list of plain blocks, rendered to HTML (html.py) and to PDF (pdf.py) from the same list.

All text is plain text: the renderers escape it. That keeps the two outputs saying the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Heading:
    level: int  # 1 title, 2 section, 3 episode
    text: str
    anchor: str = ""
    new_page: bool = False  # start a new printed page


@dataclass
class Para:
    text: str
    style: str = ""  # "" | "lead" | "disclaimer" | "warn" | "note" | "small" | "ok"
    strong: str = ""  # a bold opening, e.g. "Not a diagnosis."


@dataclass
class Bullets:
    items: list[str]
    style: str = ""


@dataclass
class Table:
    header: list[str] | None
    rows: list[list[str]]
    style: str = ""  # "" | "facts" (two columns: name, value) | "compact"
    row_styles: list[str] = field(default_factory=list)  # per row: "" | "missing" | "warn" | level names


@dataclass
class Plot:
    key: str  # unique name (file name in the HTML's data URI alt text)
    draw: Callable[[Any], None]
    w_in: float
    h_in: float
    alt: str


@dataclass
class Group:
    """Blocks kept together on a page where possible (an episode panel)."""

    blocks: list[Any]
    style: str = ""  # "panel" | "box"


Block = Heading | Para | Bullets | Table | Plot | Group
