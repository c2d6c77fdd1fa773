"""The triage rules: loaded from ``rules.json``, checked, and evaluated in three-valued logic.

A condition is a string item ``"<key> is yes"``, ``"<key> is not no"``, ``"<key> in a, b"`` or
``"<key> >= 5"`` (also ``>``, ``<=``, ``<``), or ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": ...}``.
An item whose input is unknown is itself unknown (None); ``all``/``any``/``not`` follow Kleene's logic, so a
condition is True or False only when the known answers settle it whatever the unknown ones turn out to be.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .schema import FIELDS, STATES

LEVELS = ("routine", "soon", "urgent", "emergency")  # lowest first
RANK = {name: i for i, name in enumerate(LEVELS)}
SOURCE_FILES = (
    "000_eb56eb17609500e5.txt",
    "001_b580ab075515d23b.txt",
    "002_dfc37246d8079a04.txt",
    "003_013d16051676edfb.txt",
    "004_c11b25ba22d70b7a.txt",
)

_ITEM = re.compile(r"^\s*(?P<key>[a-z_]+\.[a-z_0-9]+)\s+(?P<op>is not|is|in|>=|<=|>|<)\s+(?P<value>.+?)\s*$")
_NUM_OPS = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}


class RuleError(ValueError):
    """rules.json is inconsistent (a reviewer's edit broke it); the message names the rule."""


@dataclass(frozen=True)
class Item:
    key: str
    op: str
    value: Any  # float for comparisons, tuple[str, ...] for is / is not / in

    def eval(self, inputs: dict[str, Any]) -> bool | None:
        v = inputs.get(self.key)
        if v is None:
            return None
        if self.op in _NUM_OPS:
            return _NUM_OPS[self.op](v, self.value)
        hit = v in self.value
        return not hit if self.op == "is not" else hit

    def text(self) -> str:
        if self.op in _NUM_OPS:
            return f"{self.key} {self.op} {self.value:g}"
        return f"{self.key} {self.op} {', '.join(self.value)}"


@dataclass(frozen=True)
class Cond:
    op: str  # all | any | not | item
    parts: tuple[Any, ...]  # Cond children, or (Item,)

    def eval(self, inputs: dict[str, Any]) -> bool | None:
        if self.op == "item":
            return self.parts[0].eval(inputs)
        vals = [p.eval(inputs) for p in self.parts]
        if self.op == "not":
            return None if vals[0] is None else not vals[0]
        if self.op == "all":
            if False in vals:
                return False
            return None if None in vals else True
        if True in vals:  # any
            return True
        return None if None in vals else False

    def items(self) -> list[Item]:
        if self.op == "item":
            return [self.parts[0]]
        return [i for p in self.parts for i in p.items()]

    def undecided_keys(self, inputs: dict[str, Any]) -> list[str]:
        """Unknown inputs whose answer could still make this condition true."""
        if self.eval(inputs) is not None:
            return []
        keys = [i.key for i in self.items() if inputs.get(i.key) is None]
        return list(dict.fromkeys(keys))

    def text(self) -> str:
        if self.op == "item":
            return self.parts[0].text()
        if self.op == "not":
            return f"not ({self.parts[0].text()})"
        joiner = " and " if self.op == "all" else " or "
        inner = [p.text() if p.op in ("item", "not") else f"({p.text()})" for p in self.parts]
        return joiner.join(inner)


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str  # red_flag | reassuring
    level: str  # for reassuring rules: "routine"
    when: Cond
    reason: str
    advice: str
    sources: tuple[dict[str, str], ...]
    raw_when: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RuleBook:
    rules: tuple[Rule, ...]
    levels: dict[str, dict[str, Any]]
    documents: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> {"title", "contributes"}

    def title(self, src: dict[str, str]) -> str:
        """The name parents see for a source: the document's title, or the web page's."""
        if "file" in src:
            return self.documents.get(src["file"], {}).get("title", src["file"])
        return src.get("title", src.get("url", ""))

    def by_id(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def parse_item(text: str, where: str) -> Item:
    m = _ITEM.match(text)
    if not m:
        raise RuleError(f"{where}: cannot read {text!r}; write '<key> is yes', '<key> in a, b' or '<key> >= 5'")
    key, op, value = m["key"], m["op"], m["value"]
    fld = FIELDS.get(key)
    if fld is None:
        raise RuleError(f"{where}: unknown input {key!r} in {text!r}")
    if op in _NUM_OPS:
        if fld.type not in ("number", "count"):
            raise RuleError(f"{where}: {key} is not a number, {op} cannot apply ({text!r})")
        try:
            return Item(key, op, float(value))
        except ValueError:
            raise RuleError(f"{where}: {value!r} is not a number ({text!r})") from None
    if fld.type not in ("answer", "state"):
        raise RuleError(f"{where}: {key} is a number; compare it with >=, >, <= or < ({text!r})")
    values = tuple(v.strip() for v in value.split(","))
    allowed = ("yes", "no") if fld.type == "answer" else tuple(s for s in STATES if s != "unknown")
    for v in values:
        if v not in allowed:
            raise RuleError(f"{where}: {key} can be {', '.join(allowed)}, not {v!r} ({text!r})")
    if op != "in" and len(values) != 1:
        raise RuleError(f"{where}: use 'in' to list several values ({text!r})")
    return Item(key, op, values)


def parse_cond(raw: Any, where: str) -> Cond:
    if isinstance(raw, str):
        return Cond("item", (parse_item(raw, where),))
    if isinstance(raw, dict) and len(raw) == 1:
        (op, body), = raw.items()
        if op == "not":
            return Cond("not", (parse_cond(body, where),))
        if op in ("all", "any") and isinstance(body, list) and body:
            return Cond(op, tuple(parse_cond(b, where) for b in body))
    raise RuleError(f"{where}: a condition is a string item or one of {{'all': [...]}}, {{'any': [...]}}, "
                    f"{{'not': ...}}; got {raw!r}")


def _check_source(src: Any, where: str) -> dict[str, str]:
    if not isinstance(src, dict) or not str(src.get("quote", "")).strip():
        raise RuleError(f"{where}: every source needs a quote, got {src!r}")
    if "file" in src:
        if src["file"] not in SOURCE_FILES:
            raise RuleError(f"{where}: {src['file']!r} is not one of the source documents")
    elif not (str(src.get("url", "")).startswith("https://") and src.get("title")):
        raise RuleError(f"{where}: a source is a document file or a public https url with a title, got {src!r}")
    return dict(src)


def _parse_documents(raw: Any) -> dict[str, dict[str, str]]:
    docs: dict[str, dict[str, str]] = {}
    for d in raw if isinstance(raw, list) else []:
        if not isinstance(d, dict) or not d.get("title") or not d.get("contributes"):
            raise RuleError(f"documents: each needs a file, a title and what it contributes, got {d!r}")
        docs[d.get("file", "")] = {"title": d["title"], "contributes": d["contributes"]}
    if sorted(docs) != sorted(SOURCE_FILES):
        raise RuleError(f"documents: list exactly the source documents {', '.join(SOURCE_FILES)}")
    return docs


def parse_rules(data: dict[str, Any]) -> RuleBook:
    documents = _parse_documents(data.get("documents"))
    levels = data.get("levels", {})
    for name in LEVELS:
        lv = levels.get(name)
        if not isinstance(lv, dict) or not lv.get("headline") or lv.get("rank") != RANK[name]:
            raise RuleError(f"levels.{name}: needs a headline and rank {RANK[name]}")
        for src in lv.get("sources", []):
            _check_source(src, f"levels.{name}")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, r in enumerate(data.get("rules", [])):
        rid = r.get("id") if isinstance(r, dict) else None
        where = f"rule {rid or '#' + str(i)}"
        if not rid or not isinstance(rid, str) or rid in seen:
            raise RuleError(f"{where}: needs a unique id")
        seen.add(rid)
        kind = r.get("kind")
        if kind == "red_flag":
            level = r.get("level")
            if level not in ("soon", "urgent", "emergency"):
                raise RuleError(f"{where}: a red flag sets soon, urgent or emergency, not {level!r}")
            if "advice" in r and not (isinstance(r["advice"], str) and r["advice"].strip()):
                raise RuleError(f"{where}: advice, when given, is a sentence that adds to the level's advice")
        elif kind == "reassuring":
            level = "routine"
            if "level" in r:
                raise RuleError(f"{where}: a reassuring sign sets no level of its own")
        else:
            raise RuleError(f"{where}: kind must be red_flag or reassuring, not {kind!r}")
        if not r.get("reason"):
            raise RuleError(f"{where}: needs a reason in plain words")
        sources = r.get("sources") or []
        if not sources:
            raise RuleError(f"{where}: needs at least one source")
        if not any("file" in s for s in sources if isinstance(s, dict)):
            raise RuleError(f"{where}: needs at least one source document among its sources")
        rules.append(Rule(rid, kind, level, parse_cond(r.get("when"), where), r["reason"], r.get("advice", ""),
                          tuple(_check_source(s, where) for s in sources), r.get("when")))
    if not rules:
        raise RuleError("no rules")
    return RuleBook(tuple(rules), levels, documents)


def load_rules(path: str | None = None) -> RuleBook:
    """The rule book from `path`, or the one shipped with anklet."""
    if path is None:
        text = resources.files(__package__).joinpath("rules.json").read_text(encoding="utf-8")
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    return parse_rules(json.loads(text))
