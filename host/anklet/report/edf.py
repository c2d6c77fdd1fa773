"""`anklet export --edf FILE.edf`: raw recordings as EDF+ with the log's episodes, alarms and faults as annotations.

EDF+ (https://www.edfplus.info) is what clinical viewers such as EDFbrowser open. Written with pyedflib, one
continuous EDF+ file per raw recording (EDF+ continuous files cannot hold the hours between two recordings);
several recordings go to FILE_01.edf, FILE_02.edf, ... in time order.

Signals: the three accelerometer axes in g ("Accel X/Y/Z"). Samples are stored as 16-bit integers. A recording
made by `anklet record` holds the band's own counts (g = counts / (32768 / range)); the export finds that
step and stores exactly those counts, so the file holds the same samples bit for bit. Other traces are stored
at the finest step their range allows (2, 4, 8 or 16 g full scale; at most half a step off, 0.03 mg at 2 g).
A trace with irregular timing or a rate that is not a whole number of Hz is first resampled to the nearest
whole rate (averaging over each sample period, as anklet.trace does for replay); the header then says so.
EDF stores whole data records of one second: the last one is padded by repeating the last sample, and an
annotation marks where the recording really ends.

Annotations (onset in seconds from the file's start): every episode overlapping the recording (with its
duration, frequency, drift, amplitude and alarm level), every alarm and fault raised during it, and every
gap in monitoring overlapping it. Start times are local wall-clock time (EDF has no time zone).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from .. import trace
from ..privfile import private_path
from ..store import Store
from .raw import Recording

STEPS_CPG = (16384, 8192, 4096, 2048)  # counts per g at +-2, 4, 8, 16 g
LABELS = ("Accel X", "Accel Y", "Accel Z")
DIGITAL_MAX = 32256  # 63 * 512: +-1.96875 g at 16384 counts/g, exact in EDF's 8-character header fields (sign included)
MAX_TEXT = 40  # EDFlib writes at most 40 characters of annotation text


class EdfExportError(ValueError):
    """Nothing to export, or a file cannot be written; the text says why."""


@dataclass
class Prepared:
    fs: int
    cpg: int
    digital: np.ndarray  # N x 3 int32
    exact: bool  # the samples are stored without any rounding
    resampled: bool
    clipped: int  # samples beyond full scale (16 g)


def prepare(rec: Recording) -> Prepared:
    """The recording as whole-rate 16-bit samples, with the step chosen to keep them exact where they are."""
    rate = rec.rate()
    fs = int(round(rate))
    acc = rec.acc
    resampled = False
    if fs < 1:
        raise EdfExportError(f"{rec.path}: sample rate {rate:.3g} Hz is below 1 Hz")
    if not rec.is_regular() or abs(rate - fs) > 1e-3 * fs:
        acc = trace.resample(trace.Trace(rec.t, rec.acc, str(rec.path)), fs)
        resampled = True
    peak = float(np.max(np.abs(acc))) if len(acc) else 0.0
    chosen, exact = None, False
    for cpg in STEPS_CPG:
        if peak * cpg > DIGITAL_MAX:
            continue
        scaled = acc * cpg
        if np.all(np.abs(scaled - np.round(scaled)) < 0.25):  # a CSV's 5 decimals: under 0.1 count
            chosen, exact = cpg, True
            break
    if chosen is None:
        chosen = next((c for c in STEPS_CPG if peak * c <= DIGITAL_MAX), STEPS_CPG[-1])
    scaled = np.round(acc * chosen)
    clipped = int(np.sum(np.abs(scaled) > DIGITAL_MAX))
    digital = np.clip(scaled, -DIGITAL_MAX, DIGITAL_MAX).astype(np.int32)
    return Prepared(fs, chosen, digital, exact and not resampled, resampled, clipped)


def annotations(store: Store, t0: datetime, t1: datetime, band_id: str | None = None) -> list[tuple[float, float, str]]:
    """(onset s from t0, duration s or -1, text) for the log's episodes, alarms, faults and gaps in [t0, t1]."""
    from .data import GAP_S

    out: list[tuple[float, float, str]] = []
    span = (t1 - t0).total_seconds()

    def clip(start: datetime, end: datetime | None) -> tuple[float, float, str]:
        a = (start - t0).total_seconds()
        b = span if end is None else (end - t0).total_seconds()
        note = " (began before the recording)" if a < 0 else ""
        a = max(0.0, a)
        return a, max(0.0, min(b, span) - a), note

    for e in store.episodes(t0 - timedelta(hours=2), t1, band_id=band_id):
        if e.onset is None:
            continue
        end = e.onset + timedelta(seconds=e.duration_s)
        if end < t0 or e.onset > t1:
            continue
        a, d, note = clip(e.onset, end)
        level = (e.max_level or "no alarm").upper()
        cont = " (cont.)" if note else ""
        out.append((a, d, f"Episode {e.id}{cont} {e.f_start_hz:.1f}->{e.f_end_hz:.1f}Hz {e.amp_mg}mg {level}"))
    for al in store.alarms(t0, t1, band_id=band_id):
        if al.level == "clear":
            continue
        a = (al.raised_at - t0).total_seconds()
        if al.is_fault:
            dur = -1.0 if al.ended_at is None else (al.ended_at - al.raised_at).total_seconds()
            out.append((a, dur, f"{al.level.upper()} {al.code}"))
        else:
            out.append((a, -1.0, f"{al.level.upper()} raised" + (f" (episode {al.episode_id})" if al.episode_id else "")))
        if al.acked_at is not None and al.acked_at <= t1:
            out.append(((al.acked_at - t0).total_seconds(), -1.0, f"{al.level.upper()} acknowledged"))
    for p in store.gaps(t0, t1 + timedelta(milliseconds=1), band_id=band_id, min_s=GAP_S):
        a, d, _note = clip(p.start, p.end)
        out.append((a, d, "Gap: no data from the band"))
    out = [(a, d, text[:MAX_TEXT]) for a, d, text in out]
    out.sort(key=lambda x: x[0])
    return out


def write(rec: Recording, path: str | Path, store: Store | None = None, band_id: str | None = None) -> dict[str, Any]:
    """One recording as an EDF+ file; returns what was written."""
    import pyedflib

    prep = prepare(rec)
    n = len(prep.digital)
    pad = (-n) % prep.fs
    digital = prep.digital
    if pad:
        digital = np.vstack([digital, np.repeat(digital[-1:], pad, axis=0)])
    start = rec.first
    end = start + timedelta(seconds=n / prep.fs)
    notes = annotations(store, start, end, band_id) if store is not None else []
    if pad:
        notes.append((n / prep.fs, -1.0, "End of recording (padding follows)"))
    notes.sort(key=lambda x: x[0])
    path = Path(path)
    with private_path(path, make_dirs=True) as tmp:  # 0600 like the log, and never left half-written
        w = pyedflib.EdfWriter(str(tmp), 3, file_type=pyedflib.FILETYPE_EDFPLUS)
        try:
            pmax = DIGITAL_MAX / prep.cpg
            w.setSignalHeaders([{
                "label": label, "dimension": "g", "sample_frequency": prep.fs, "physical_min": -pmax,
                "physical_max": pmax, "digital_min": -DIGITAL_MAX, "digital_max": DIGITAL_MAX,
                "transducer": "anklet band accelerometer", "prefilter": "resampled" if prep.resampled else "",
            } for label in LABELS])
            w.setStartdatetime(start.astimezone().replace(tzinfo=None))
            w.setEquipment("anklet_band")
            w.setRecordingAdditional(("raw_" + "".join(c if c.isalnum() or c in "._-" else "_" for c in rec.path.name))[:40])
            w.writeSamples([np.ascontiguousarray(digital[:, k]) for k in range(3)], digital=True)
            for onset, dur, text in notes:
                w.writeAnnotation(onset, dur, text[:200])
        finally:
            w.close()
    return {"path": str(path), "samples": n, "fs": prep.fs, "full_scale_g": DIGITAL_MAX / prep.cpg, "exact": prep.exact,
            "resampled": prep.resampled, "clipped": prep.clipped, "annotations": len(notes), "start": start}


def out_paths(out: str | Path, n: int) -> list[Path]:
    out = Path(out)
    if n == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{i + 1:02d}{out.suffix}") for i in range(n)]


def export(store: Store, raw_specs: list[str], out: str | Path, since: datetime | None = None,
           until: datetime | None = None, band_id: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Every raw recording overlapping [since, until) as EDF+; returns (written files, warnings)."""
    from .raw import find

    if Path(out).suffix.lower() != ".edf":
        raise EdfExportError(f"--edf {out}: name the file .edf")
    if not raw_specs:
        raise EdfExportError("--edf needs the raw recordings: give --raw PATH (trace CSV files or a directory of "
                             "them). The log itself holds no raw samples; export it with CSV or JSON")
    recs, warnings = find(raw_specs)
    # a naive time is local time, as everywhere in anklet (a naive and an aware time do not compare)
    since = since.astimezone() if since is not None and since.tzinfo is None else since
    until = until.astimezone() if until is not None and until.tzinfo is None else until
    recs = [r for r in recs if (since is None or r.end >= since) and (until is None or r.first < until)]
    if not recs:
        raise EdfExportError("no raw recording in the chosen time range" + (
            "; " + "; ".join(warnings) if warnings else ""))
    written = []
    for rec, path in zip(recs, out_paths(out, len(recs)), strict=True):
        written.append(write(rec, path, store, band_id))
    return written, warnings


def add_arguments(p: Any) -> None:
    """The options `anklet export` takes for EDF+ (called from anklet.logcmd)."""
    p.add_argument("--edf", metavar="FILE.edf", help="write the raw recordings as EDF+ with episodes, alarms and "
                                                     "faults as annotations (several recordings: FILE_01.edf, ...)")
    p.add_argument("--raw", action="append", default=[], metavar="PATH",
                   help="with --edf: raw recordings (trace CSV files or directories; FILE@TIME gives the start); "
                        "repeatable")


def export_cmd(args: Any, store: Store, since: datetime | None, until: datetime | None) -> int:
    """`anklet export --edf`: write, and say what was written."""
    from ..cli import CliError
    from .raw import RawError

    try:
        written, warnings = export(store, args.raw, args.edf, since, until, getattr(args, "band", None))
    except (EdfExportError, RawError) as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"cannot write {args.edf}: {exc}") from exc
    for w in warnings:
        print(f"anklet: warning: {w}", file=sys.stderr)
    for f in written:
        how = "exact samples" if f["exact"] else ("resampled" if f["resampled"] else "rounded to the nearest step")
        print(f"wrote {f['path']}: {f['samples']} samples at {f['fs']} Hz, +-{f['full_scale_g']:g} g ({how}), "
              f"{f['annotations']} annotations" + (f", {f['clipped']} samples clipped" if f["clipped"] else ""),
              file=sys.stderr)
    return 0
