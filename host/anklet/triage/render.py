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
    """A citation as parents read it: the document's title (docs/sources.md lists them) and its words."""
    title = src.get("title") or src.get("file", "")
    where = f" <{src['url']}>" if "url" in src else ""
    return f"{title}{where}: \"{src['quote']}\""


def text(result: dict[str, Any]) -> str:
    """The result as plain text for the terminal, for parents: titles of the documents, no rule ids or file
    names (those are in --json and in the report's appendix)."""
    bar = "=" * min(WIDTH, max(40, len(result["headline"])))
    lines = [bar, result["headline"], bar]
    lines += textwrap.wrap(result["not_a_diagnosis"], WIDTH)
    red = [r for r in result["reasons"] if r["kind"] != "reassuring"]
    calm = [r for r in result["reasons"] if r["kind"] == "reassuring"]
    if red:
        lines += ["", "Why:"]
        for r in red:
            lines += _bullets([r["reason"]])
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
            lines += _bullets([r["reason"]])
            lines += textwrap.wrap("source: " + _cite(r["citations"][0]), WIDTH, initial_indent="      ",
                                   subsequent_indent="        ")
    lines += ["", "Write down, for the doctor:"] + _bullets(result["record"])
    lines += ["", "The sources are listed by title, with what each contributes, in anklet's docs/sources.md."]
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


def sources_table(book: RuleBook) -> str:
    """Markdown: each source document by its title, its file name (as --json cites it), what it contributes,
    and every phrase anklet quotes from it with the rules that rest on it."""
    quotes: dict[str, dict[str, list[str]]] = {f: {} for f in book.documents}
    for r in book.rules:
        for src in r.sources:
            if "file" in src:
                quotes[src["file"]].setdefault(src["quote"], []).append(f"`{r.id}`")
    for name in LEVELS:
        for src in book.levels[name].get("sources", []):
            if "file" in src:
                quotes[src["file"]].setdefault(src["quote"], []).append(f"level `{name}`")
    from .engine import CHECKUPS, CONSULT, RECORD

    for src, where in [(CONSULT, "level `soon` when too little is known"), (CHECKUPS, "advice at level `soon`"),
                       *((src, "what to write down for the doctor") for _, src in RECORD)]:
        quotes[src["file"]].setdefault(src["quote"], []).append(where)
    out = []
    for f, doc in book.documents.items():
        out += [f"### {doc['title']}", "", f"File `{f}`. {doc['contributes']}", "",
                "| anklet quotes | in |", "|---|---|"]
        out += [f"| \"{_md(q)}\" | {', '.join(dict.fromkeys(where))} |" for q, where in quotes[f].items()]
        out.append("")
    web = {}
    for r in book.rules:
        for src in r.sources:
            if "url" in src:
                web.setdefault(src["url"], src["title"])
    for name in LEVELS:
        for src in book.levels[name].get("sources", []):
            if "url" in src:
                web.setdefault(src["url"], src["title"])
    out += ["### Public web pages, where the documents give no number or no first aid", ""]
    out += [f"- [{_md(t)}]({u})" for u, t in web.items()]
    return "\n".join(out) + "\n"


_BLOCK = re.compile(r"(<!-- (levels|rules|coverage|sources)-table:[^\n]*-->\n)(.*?)(<!-- end \2-table -->)", re.S)


def update_doc(doc: str, book: RuleBook) -> str:
    """docs/triage.md (or docs/sources.md) with its generated tables (between the marker comments) rewritten from the data."""
    tables = {"levels": levels_table(book), "rules": rules_table(book), "coverage": coverage_table(),
              "sources": sources_table(book)}
    return _BLOCK.sub(lambda m: m[1] + tables[m[2]] + m[4], doc)

