"""Night reports for parents and pediatricians, and the EDF+ export of raw recordings.

    from anklet.report import make_report
    make_report(store, [date(2026, 11, 21)], "night.html", pdf_path="night.pdf", raw=["recordings/"])

- data.py: what the report holds, gathered from the log (nights, episodes, gaps, faults, activity)
- raw.py: raw recordings (trace CSV files) and how they are placed on the clock
- build.py: the content as plain blocks (doc.py); html.py and pdf.py render them
- plots.py: the matplotlib plots, drawn the same way for both
- edf.py: `anklet export --edf`; cli.py: `anklet report`
See docs/reports.md.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date, datetime
from pathlib import Path

from ..store import Store

# Nothing heavy here: `anklet` imports every command module at start, and matplotlib loads only for a report.


def _atomic_write(path: Path, payload: bytes) -> None:
    """Write the whole file or nothing: a failed render never leaves half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def title_for(days: list[date]) -> str:
    from . import build

    if len(days) == 1:
        return f"anklet night report: night of {build.fmt_day(days[0])}"
    return f"anklet report: {len(days)} nights, {build.fmt_day(days[0])} to {build.fmt_day(days[-1])}"


def make_report(store: Store, days: list[date], out: str | os.PathLike[str], *, pdf_path: str | os.PathLike[str] | None = None,
                raw_specs: list[str] | None = None, now: datetime | None = None, db_text: str | None = None
                ) -> dict[str, object]:
    """Write the HTML report (and the PDF if asked); return a summary of what it holds."""
    from . import build, data, html, raw

    recordings, warnings = raw.find(raw_specs or [])
    nights = data.gather(store, days, recordings, now=now)
    title = title_for(days)
    blocks = build.document(nights, title=title, db_text=db_text or str(store.path), generated=now,
                            warnings=warnings)
    page = html.render(blocks, title)
    _atomic_write(Path(out), page.encode("utf-8"))
    if pdf_path is not None:
        from . import pdf

        _atomic_write(Path(pdf_path), pdf.render(blocks, title))
    return {
        "nights": len(nights),
        "episodes": sum(len(n.episodes) for n in nights),
        "gaps": sum(len(n.gaps) for n in nights),
        "empty_nights": sum(1 for n in nights if n.empty),
        "recordings": len(recordings),
        "warnings": warnings,
    }
