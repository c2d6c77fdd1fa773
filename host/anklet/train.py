"""`make train`: learn the seizure score's trees and write firmware/anklet_fw/seizure_model.py.

Development tool (needs scikit-learn, a dev dependency). Reproducible: fixed seeds, fixed data.
Seconds are labelled from
- the real recordings (../shared/realdata): seconds inside a real tonic-clonic seizure's curated span
  are seizure-like; every second of a recording that should not alarm (running, sawing, walking,
  exercise sets, OSD's real false alarms) is not; the rest (seizures without an annotation of
  rhythmic shaking, the mimicked seizures) is left out of training and only scored;
- simulated nights (host/anklet/simulate.py, seeds apart from the bench's): seconds of clonic
  episodes are seizure-like, every other moving second is not.
Cross-validation holds out whole recordings and whole nights (grouped folds), never random seconds:
`python -m anklet.train --cv` prints it (docs/detector.md quotes it).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from . import realdata, simulate, trace, twin

SEED = 12
TRAIN_NIGHT_SEED = 700000  # the bench uses 2026.. and 12026..
N_TREES = 40
DEPTH = 3
MIN_LEAF = 150
LR = 0.15
MARGIN_S = 15
HARD_WEIGHT = 4.0
OUT = Path(__file__).resolve().parents[2] / "firmware" / "anklet_fw" / "seizure_model.py"
FEATURES = ("amp_mg", "rhythm", "freq_chz", "sharp", "crest", "jerks", "amp_mean", "amp_least", "rhythm_mean",
            "sharp_mean", "active_s", "amp_spread", "harm", "harm_mean")


@dataclass
class Block:
    """The seconds of one recording or night: features, labels (1, 0, or -1 = left out), its group."""

    name: str
    source: str
    x: np.ndarray
    y: np.ndarray
    weight: float = 1.0


def real_blocks(recs: list[realdata.Recording]) -> list[Block]:
    out = []
    for r in recs:
        feat = twin.features(r.counts, realdata.FS, realdata.RANGE_G)
        x = twin.context_rows(feat, realdata.FS)
        t = np.arange(1, len(x) + 1, dtype=float)
        e = r.entry
        if e["group"] == "seizure_real_tc" and r.span:
            a, b = r.span
            # Inside the span: seizure. Well away from it (the span is +-5 s): the same person and watch not
            # seizing, the only negatives from that source, so the trees cannot learn the source instead.
            y = np.where((t >= a + 3) & (t <= b + 2), 1, np.where((t < a - MARGIN_S) | (t > b + MARGIN_S), 0, -1))
        elif e["should_alarm"] is False:
            y = np.zeros(len(x), int)
        else:
            y = -np.ones(len(x), int)
        # Real false alarms of a deployed detector are the hardest negatives there are: weighted up.
        out.append(Block(r.name, e["source"], x, y, HARD_WEIGHT if e["group"] == "false_alarm_real" else 1.0))
    return out


def sim_blocks(n_seizure: int = 40, n_quiet: int = 12, seed: int = TRAIN_NIGHT_SEED) -> list[Block]:
    out = []
    for i in range(n_seizure + n_quiet):
        seizures = 3 if i < n_seizure else 0
        hours = 1.0 if i < n_seizure else 4.0
        nt = simulate.night(seed + i, hours, seizures)
        t, acc = nt.signal()
        counts = trace.to_counts(trace.Trace(t, acc), realdata.FS, realdata.RANGE_G)
        feat = twin.features(counts, realdata.FS, realdata.RANGE_G)
        x = twin.context_rows(feat, realdata.FS)
        ts = np.arange(1, len(x) + 1, dtype=float)
        y = np.where(feat.active, 0, -1)  # still seconds teach nothing
        for ep in nt.truth:
            if ep.type == "clonic":
                inside = (ts >= ep.start + 3) & (ts <= ep.end + 1)
                y[inside] = 1
                y[(ts > ep.start - 2) & (ts < ep.start + 3)] = -1
        out.append(Block(f"night {seed + i}", "simulated", x, y))
    return out


def fit(blocks: list[Block]):
    from sklearn.ensemble import GradientBoostingClassifier

    x = np.concatenate([b.x for b in blocks])
    y = np.concatenate([b.y for b in blocks])
    keep = y >= 0
    x, y = x[keep], y[keep]
    # Real seconds count as much, in total, as simulated ones: the simulator must not drown them.
    src = np.concatenate([np.full(len(b.y), b.source == "simulated") for b in blocks])[keep]
    bw = np.concatenate([np.full(len(b.y), b.weight) for b in blocks])[keep]
    w = bw * np.where(src, 1.0, max(1.0, src.sum() / max(1, (~src).sum())))
    w = np.where(y == 1, w * 2.0, w)  # a missed seizure is worse than a false second
    clf = GradientBoostingClassifier(n_estimators=N_TREES, max_depth=DEPTH, min_samples_leaf=MIN_LEAF,
                                     learning_rate=LR, subsample=0.8, random_state=SEED)
    clf.fit(x, y, sample_weight=w)
    return clf


def export(clf) -> SimpleNamespace:
    """The trees as the firmware stores them: full trees of DEPTH levels in heap order, integer thresholds,
    leaves in 1/256 of log-odds."""
    prior = clf.init_.class_prior_[1]
    base = int(round(256 * np.log(prior / (1 - prior))))
    raw = bytearray()
    for est in clf.estimators_[:, 0]:
        tr = est.tree_
        nodes: list[tuple[int, int]] = []
        leaves: list[int] = []
        level = [0]  # sklearn node ids of this level, in heap order
        for _ in range(DEPTH):
            nxt = []
            for i in level:
                if tr.children_left[i] < 0:  # a leaf above the last level: a split that always goes left
                    nodes.append((0, 65535))
                    nxt += [i, i]
                else:
                    nodes.append((int(tr.feature[i]), int(np.floor(tr.threshold[i]))))
                    nxt += [tr.children_left[i], tr.children_right[i]]
            level = nxt
        leaves = level
        for f, t in nodes:
            t = min(max(t, 0), 65535)  # every feature is >= 0; x <= -1 would never hold
            raw += bytes([f, t & 255, t >> 8])
        for leaf in leaves:
            v = int(round(256 * clf.learning_rate * tr.value[leaf][0][0]))
            v = min(max(v, -32768), 32767) & 0xFFFF
            raw += bytes([v & 255, v >> 8])
    return SimpleNamespace(BASE=base, DEPTH=DEPTH, TREES=bytes(raw))


def write_module(model: SimpleNamespace, path: Path = OUT) -> None:
    lines = ["# GENERATED by `make train` (host/anklet/train.py) from ../shared/realdata and simulated nights:",
             "# do not edit. The seizure score's trees (scorer.py reads them): base log-odds, depth and, per",
             "# tree, its split nodes (feature, u16 threshold) in heap order then its s16 leaves; 1/256 log-odds.",
             f"BASE = {model.BASE}", f"DEPTH = {model.DEPTH}", "TREES = ("]
    b = model.TREES
    for i in range(0, len(b), 34):
        lines.append(f"    {bytes(b[i:i + 34])!r}")
    lines.append(")")
    path.write_text("\n".join(lines) + "\n")


def cross_validate(real: list[Block], sim: list[Block], recs: list[realdata.Recording], folds: int = 6,
                   params: dict | None = None) -> None:
    """Grouped folds: each real recording and each simulated night is held out whole, scored by the firmware
    logic at the default threshold with a model that never saw it."""
    rng = np.random.default_rng(SEED)
    fold_of_real = rng.integers(0, folds, len(real))
    fold_of_sim = rng.integers(0, folds, len(sim))
    held: list[list[float]] = [[] for _ in recs]
    for k in range(folds):
        train = [b for b, f in zip(real, fold_of_real, strict=True) if f != k]
        train += [b for b, f in zip(sim, fold_of_sim, strict=True) if f != k]
        model = export(fit(train))
        for i, r in enumerate(recs):
            if fold_of_real[i] == k:
                held[i] = realdata.anklet_alarms(r, params=params, model=model)
        print(f"fold {k + 1}/{folds} done", flush=True)
    print("cross-validated (each recording scored by a model trained without it; folds by recording):")
    print("\n".join(realdata.table(recs, {"anklet, held out": held})))
    # By source: a whole source (another person, another device, another placement) left out of training.
    # The real seizures all come from one person, so they cannot be held out this way.
    by_source = [r[:] for r in held]
    sources = {"seglearn_watch": lambda e: e["source"] == "seglearn_watch",
               "uea_epilepsy": lambda e: e["source"] == "uea_epilepsy",
               "OSDB person 38 (false alarms)": lambda e: e["group"] == "false_alarm_real"}
    for name, pred in sources.items():
        model = export(fit([b for b, r in zip(real, recs, strict=True) if not pred(r.entry)] + sim))
        for i, r in enumerate(recs):
            if pred(r.entry):
                by_source[i] = realdata.anklet_alarms(r, params=params, model=model)
        print(f"source {name} held out", flush=True)
    print("cross-validated by source (seglearn, UEA and OSDB's person 38 each left out of training whole; "
          "the OSDB seizure rows as in the folds above):")
    print("\n".join(realdata.table(recs, {"anklet, source held out": by_source})))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="anklet-train")
    ap.add_argument("--cv", action="store_true", help="also print grouped cross-validation")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--score-min", type=int, default=None, help="cross-validate at this threshold (default: the band's)")
    args = ap.parse_args(argv)
    recs = realdata.load()
    real = real_blocks(recs)
    sim = sim_blocks()
    clf = fit(real + sim)
    model = export(clf)
    write_module(model, args.out)
    imp = sorted(zip(clf.feature_importances_, FEATURES, strict=True), reverse=True)
    print(f"wrote {args.out}: {N_TREES} trees of depth {DEPTH}, {len(model.TREES)} bytes; importance: "
          + ", ".join(f"{n} {v:.2f}" for v, n in imp[:6]))
    if args.cv:
        cross_validate(real, sim, recs, params=None if args.score_min is None else {"score_min": args.score_min})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
