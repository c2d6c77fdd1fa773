"""Rewrite the generated tables of docs/triage.md from the rule data:

    python -m anklet.triage.docgen docs/triage.md
"""

from __future__ import annotations

import sys

from .render import update_doc
from .rules import load_rules


def main(paths: list[str]) -> int:
    book = load_rules()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            old = f.read()
        new = update_doc(old, book)
        if new != old:
            with open(path, "w", encoding="utf-8") as f:
                f.write(new)
            print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
