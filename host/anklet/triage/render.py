"""Words for people: the result as terminal text, and the rule and coverage tables of docs/triage.md."""

from __future__ import annotations

import json
import re
import textwrap
from importlib import resources
from typing import Any

from .rules import LEVELS, RANK, RuleBook

WIDTH = 100


def _bullets(lines: list[str], indent: str = "  ") -> list[str]:
    out = []
    for line in lines:
        out += textwrap.wrap(line, WIDTH, initial_indent=indent + "- ", subsequent_indent=indent + "  ")
    return out


def _cite(src: dict[str, str]) -> str:
    if "file" in src:
        return f"{src['file']}: \"{src['quote']}\""
    return f"{src['title']} <{src['url']}>: \"{src['quote']}\""


def text(result: dict[str, Any]) -> str:
    """The result as plain text for the terminal."""
    bar = "=" * min(WIDTH, max(40, len(result["headline"])))
    lines = [bar, result["headline"], bar]
    lines += textwrap.wrap(result["not_a_diagnosis"], WIDTH)
    red = [r for r in result["reasons"] if r["kind"] != "reassuring"]
    calm = [r for r in result["reasons"] if r["kind"] == "reassuring"]
    if red:
        lines += ["", "Why:"]
        for r in red:
            lines += _bullets([f"{r['reason']} [{r['rule']}, {r['level']}]"])
            for src in r["citations"]:
                lines += textwrap.wrap("source: " + _cite(src), WIDTH, initial_indent="      ",
                                       subsequent_indent="        ")
    lines += ["", "What to do:"] + _bullets(result["advice"])
    if result["open_questions"]:
        lines += ["", "Questions not answered that could change this:"]
        lines += _bullets([f"{q['text']} (not answered; could raise the level to {q['could_raise_to']})"
                           for q in result["open_questions"]])
    if calm:
        lines += ["", "Reassuring signs (they never lower the level set by a warning sign):" if red
                  else "Reassuring signs:"]
        for r in calm:
            lines += _bullets([f"{r['reason']} [{r['rule']}]"])
            lines += textwrap.wrap("source: " + _cite(r["citations"][0]), WIDTH, initial_indent="      ",
                                   subsequent_indent="        ")
    lines += ["", "Write down, for the doctor:"] + _bullets(result["record"])
    return "\n".join(lines) + "\n"


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def rules_table(book: RuleBook) -> str:
    """Markdown table of every rule, highest level first (docs/triage.md is checked against it)."""
    rows = ["| rule | sets | when | reason | sources |", "|---|---|---|---|---|"]
    ordered = sorted(book.rules, key=lambda r: (r.kind != "red_flag", -RANK[r.level]))
    for r in ordered:
        level = r.level if r.kind == "red_flag" else "reassuring"
        srcs = "<br>".join(
            f"`{s['file']}`: \"{_md(s['quote'])}\"" if "file" in s
            else f"[{_md(s['title'])}]({s['url']}): \"{_md(s['quote'])}\"" for s in r.sources)
        rows.append(f"| `{r.id}` | {level} | `{_md(r.when.text())}` | {_md(r.reason)} | {srcs} |")
    return "\n".join(rows) + "\n"


def coverage_table() -> str:
    """Markdown table: every red flag and reassuring sign in the documents and the rules that cover it."""
    data = json.loads(resources.files(__package__).joinpath("coverage.json").read_text(encoding="utf-8"))
    rows = ["| document | sign | kind | covered by | note |", "|---|---|---|---|---|"]
    for s in data["signs"]:
        kind = "red flag" if s["type"] == "red_flag" else "reassuring"
        rules = ", ".join(f"`{r}`" for r in s["rules"]) or "(no rule)"
        rows.append(f"| `{s['file']}` | \"{_md(s['quote'])}\" | {kind} | {rules} | {_md(s.get('note', ''))} |")
    return "\n".join(rows) + "\n"


def levels_table(book: RuleBook) -> str:
    rows = ["| level | what parents are told | advice | sources of the advice |", "|---|---|---|---|"]
    for name in reversed(LEVELS):
        lv = book.levels[name]
        srcs = "<br>".join(f"[{_md(s['title'])}]({s['url']}): \"{_md(s['quote'])}\"" if "url" in s
                           else f"`{s['file']}`: \"{_md(s['quote'])}\"" for s in lv.get("sources", []))
        rows.append(f"| `{name}` | {_md(lv['headline'])} | {_md(' '.join(lv.get('advice', [])))} | {srcs} |")
    return "\n".join(rows) + "\n"


_BLOCK = re.compile(r"(<!-- (levels|rules|coverage)-table:[^\n]*-->\n)(.*?)(<!-- end \2-table -->)", re.S)


def update_doc(doc: str, book: RuleBook) -> str:
    """docs/triage.md with its generated tables (between the marker comments) rewritten from the data."""
    tables = {"levels": levels_table(book), "rules": rules_table(book), "coverage": coverage_table()}
    return _BLOCK.sub(lambda m: m[1] + tables[m[2]] + m[4], doc)

