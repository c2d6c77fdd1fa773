"""The report's plots, drawn with matplotlib (Agg, no pyplot state) into a Figure or a SubFigure.

Each `draw_*` function fills the figure-like object it is given, so the HTML page (one PNG per plot) and the
PDF (plots placed on A4 pages as vector graphics) draw exactly the same thing. Colours are chosen to stay
apart when printed in grey: alarm levels also differ in lightness, and gaps in monitoring are hatched.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .data import EpisodeView, NightData  # noqa: E402

LEVEL_COLOURS = {None: "#9ecae1", "notice": "#fdd049", "alarm": "#f28e2b", "escalation": "#b2182b"}
LEVEL_NAMES = {None: "episode, no alarm", "notice": "NOTICE", "alarm": "ALARM", "escalation": "ESCALATION"}
GAP_STYLE = {  # kind -> (face, hatch)
    "no_data": ("#bdbdbd", "////"),
    "not_running": ("#d9d9d9", "xxxx"),
    "not_worn": ("#969696", "\\\\\\\\"),
    "battery_critical": ("#737373", "...."),
    "log_write": ("#525252", "++"),
    "battery_low": ("#f0f0f0", ".."),
}
INK = "#222222"
DPI = 150

FigLike = Any  # matplotlib Figure or SubFigure


def png(draw: Callable[[FigLike], None], w_in: float, h_in: float) -> bytes:
    """Draw into a new figure of w x h inches and return it as PNG bytes."""
    fig = Figure(figsize=(w_in, h_in), dpi=DPI)
    draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def _tz() -> Any:
    return datetime.now().astimezone().tzinfo


def _time_axis(ax: Any, t0: datetime, t1: datetime) -> None:
    span_h = (t1 - t0).total_seconds() / 3600
    step = 1 if span_h <= 12 else 2
    if span_h < 2:
        loc: Any = mdates.MinuteLocator(byminute=range(0, 60, 15 if span_h > 1 else 10), tz=_tz())
    else:
        loc = mdates.HourLocator(interval=step, tz=_tz())
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=_tz()))
    ax.set_xlim(t0, t1)


def _style(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8, colors=INK)


def draw_timeline(fig: FigLike, night: NightData) -> None:
    """Movement per minute, episodes by alarm level, and every gap in monitoring, on the clock."""
    assert night.watched is not None
    w0, w1 = night.watched
    pad = max(timedelta(minutes=5), (w1 - w0) * 0.02)
    t0, t1 = w0 - pad, w1 + pad
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1, 1], "hspace": 0.15})
    fig.subplots_adjust(left=0.13, right=0.985, top=0.96, bottom=0.30)
    mov, epi, gap = axes
    for ax in axes:
        _style(ax)
        ax.set_yticks([])
        # Outside the first and last sign of monitoring: nothing was watched.
        ax.axvspan(t0, w0, color="#eeeeee", lw=0)
        ax.axvspan(w1, t1, color="#eeeeee", lw=0)
    if night.activity:
        ts = [a[0] for a in night.activity]
        mg = [a[1] for a in night.activity]
        mov.bar(ts, mg, width=1 / 1440, align="edge", color="#6b6b6b", lw=0)
        # The scale follows the usual movement (99th percentile) so that one kick does not flatten the night;
        # bars above it are cut, marked, and the cut is said on the chart.
        top = max(50, float(np.percentile(mg, 99)) * 1.15)
        mov.set_ylim(0, top)
        mov.set_yticks([0, int(top // 10 * 10)])
        cut = [(t, m) for t, m in zip(ts, mg, strict=True) if m > top]
        if cut:
            mov.plot([t + timedelta(seconds=30) for t, _ in cut], [top] * len(cut), ls="", marker="^", ms=4,
                     color=INK, clip_on=False)
            mov.text(1.0, 1.02, f"scale cut at {top:.0f} mg/min (\u25b2); highest minute {max(m for _, m in cut):.0f} mg/min",
                     transform=mov.transAxes, ha="right", va="bottom", fontsize=6.5, color="#444444")
    else:
        mov.text(0.5, 0.5, "no movement summaries logged", transform=mov.transAxes, ha="center", va="center",
                 fontsize=8, color="#666666")
    mov.set_ylabel("movement\n(mg/min)", fontsize=8, rotation=0, ha="right", va="center")
    epi.set_ylabel("episodes", fontsize=8, rotation=0, ha="right", va="center")
    gap.set_ylabel("not watching", fontsize=8, rotation=0, ha="right", va="center")
    epi.set_ylim(0, 1)
    gap.set_ylim(0, 1)
    shown = [v for v in night.episodes if v.onset is not None and v.end is not None]
    for v in shown:
        col = LEVEL_COLOURS.get(v.level, LEVEL_COLOURS[None])
        epi.axvspan(v.onset, max(v.end, v.onset + timedelta(seconds=1)), color=col, lw=0)
        epi.plot([v.onset], [0.45], marker="v", ms=7, color=col, mec=INK, mew=0.6)
        for ax in (mov, gap):
            ax.axvline(v.onset, color=col, lw=0.8, alpha=0.8)
    # Numbers: episodes closer than 2 % of the axis share one label ("#3-5") instead of printing over each other.
    near = (t1 - t0) * 0.02
    groups: list[list[EpisodeView]] = []
    for v in shown:
        if groups and v.onset - groups[-1][-1].onset < near:  # type: ignore[operator]
            groups[-1].append(v)
        else:
            groups.append([v])
    for grp in groups:
        label = f"#{grp[0].number}" + (f"-{grp[-1].number}" if len(grp) > 1 else "")
        epi.text(grp[0].onset, 0.8, label, ha="center", va="center", fontsize=7, color=INK)
    for g in night.gaps:
        face, hatch = GAP_STYLE.get(g.kind, ("#bdbdbd", "////"))
        gap.axvspan(g.start, g.end, ymin=0.1, ymax=0.9, facecolor=face, hatch=hatch, edgecolor=INK, lw=0.5)
        if g.kind != "battery_low":
            mov.axvspan(g.start, g.end, facecolor="none", hatch=hatch, edgecolor="#aaaaaa", lw=0)
    for a in night.one_shots:
        gap.plot([a.raised_at], [0.5], marker="x", ms=6, color=INK)
    _time_axis(gap, t0, t1)
    handles = [Patch(facecolor=LEVEL_COLOURS[k], label=LEVEL_NAMES[k]) for k in (None, "notice", "alarm", "escalation")]
    kinds = sorted({g.kind for g in night.gaps}, key=list(GAP_STYLE).index) if night.gaps else []
    from .data import GAP_LABELS

    handles += [Patch(facecolor=GAP_STYLE[k][0], hatch=GAP_STYLE[k][1], edgecolor=INK, lw=0.5, label=GAP_LABELS[k])
                for k in kinds if k in GAP_STYLE]
    handles.append(Patch(facecolor="#eeeeee", label="before/after monitoring"))
    if night.one_shots:
        handles.append(Line2D([], [], marker="x", ls="", color=INK, label="other problem (see the table)"))
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False, bbox_to_anchor=(0.55, 0.0))


def draw_frequency(fig: FigLike, v: EpisodeView) -> None:
    """The dominant frequency and amplitude through the episode, with the alarms raised."""
    ax = fig.subplots()
    fig.subplots_adjust(left=0.13, right=0.86, top=0.9, bottom=0.22)
    _style(ax)
    ax.spines["right"].set_visible(True)
    dur = max(v.episode.duration_s, 1.0)
    # The band's START comes a few seconds in and its END a little after the last beat: the summary it carries
    # describes the episode up to its stated duration, so nothing is drawn past it.
    pts = [(min(p[0], dur), *p[1:]) for p in v.trend if p[1] > 0]
    if pts:
        t = [p[0] for p in pts]
        ax.plot(t, [p[1] for p in pts], "-o", color="#08519c", ms=3, lw=1.5, label="frequency", clip_on=False)
        lo = min(p[1] for p in pts)
        hi = max(p[1] for p in pts)
        ax.set_ylim(max(0, lo - 1), hi + 1)
        ax2 = ax.twinx()
        ax2.plot(t, [p[2] for p in pts], "--", color="#a63603", lw=1.2, label="amplitude", clip_on=False)
        ax2.set_ylim(0, max(p[2] for p in pts) * 1.3 + 1)
        ax2.set_ylabel("amplitude (mg)", fontsize=8, color="#a63603")
        ax2.tick_params(labelsize=8, colors="#a63603")
        for side in ("top",):
            ax2.spines[side].set_visible(False)
    else:
        ax.text(0.5, 0.5, "no frequency updates logged", transform=ax.transAxes, ha="center", fontsize=8)
    onset = v.onset
    for a in v.alarms:
        if a.t_ms is not None:
            x = (a.t_ms - v.episode.onset_ms) / 1000.0
        elif onset is not None:
            x = (a.raised_at - onset).total_seconds()
        else:
            continue
        if not 0 <= x <= dur:
            continue
        ax.axvline(x, color=LEVEL_COLOURS.get(a.level, INK), lw=1.5)
        ax.text(x, 1.0, " " + a.level.upper(), transform=ax.get_xaxis_transform(), fontsize=6.5, va="bottom",
                ha="left", color=INK)
    ax.set_xlim(0, dur)
    ax.set_xlabel(f"seconds since the episode began (it lasted {v.episode.duration_s:.0f} s)", fontsize=8)
    ax.set_ylabel("frequency (Hz)", fontsize=8, color="#08519c")


def draw_raw(fig: FigLike, v: EpisodeView, margin_s: float = 10.0, zoom_s: float = 4.0) -> None:
    """The raw signal around the episode, and a few seconds from its middle where each beat shows."""
    rec = v.recording
    assert rec is not None and v.onset is not None and v.end is not None
    t0 = v.onset - timedelta(seconds=margin_s)
    t, acc = rec.window(t0, v.end + timedelta(seconds=margin_s))
    t = t - margin_s
    gs = fig.add_gridspec(1, 2, width_ratios=[3, 1], wspace=0.12, left=0.1, right=0.99, top=0.86, bottom=0.2)
    full = fig.add_subplot(gs[0])
    zoom = fig.add_subplot(gs[1], sharey=full)
    colours = ("#1b9e77", "#d95f02", "#7570b3")
    dev = acc - np.median(acc, axis=0) if len(acc) else acc
    mid = v.episode.duration_s / 2
    for ax in (full, zoom):
        _style(ax)
        ax.axvspan(0, v.episode.duration_s, color="#fde0c5", lw=0)
        for k, name in enumerate(("x", "y", "z")):
            if len(t):
                ax.plot(t, dev[:, k], lw=0.6 if ax is full else 0.9, color=colours[k], label=name)
    full.set_xlim(-margin_s, v.episode.duration_s + margin_s)
    zoom.set_xlim(mid - zoom_s / 2, mid + zoom_s / 2)
    zoom.tick_params(labelleft=False)
    full.set_xlabel("seconds since the episode began (shaded: the episode)", fontsize=8)
    zoom.set_xlabel(f"{zoom_s:g} s from the middle", fontsize=8)
    full.set_ylabel("g (gravity removed)", fontsize=8)
    full.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, ncol=3, frameon=False, borderaxespad=0)
    fig.suptitle(f"raw recording {rec.path.name}, axes x, y, z", fontsize=8, x=0.1, ha="left", y=0.99)


def draw_trends(fig: FigLike, nights: list[NightData]) -> None:
    """Across nights: episodes per night, their durations, and how long anklet was watching."""
    axes = fig.subplots(1, 3)
    fig.subplots_adjust(left=0.07, right=0.99, top=0.86, bottom=0.3, wspace=0.35)
    x = np.arange(len(nights))
    labels = [_short_day(n.day) for n in nights]
    # One label a night while they fit side by side (weekday over day number), else every k-th, upright.
    every = 1 if len(nights) <= 8 else -(-len(nights) // 8)
    counts, watched_h, unwatched_h = [], [], []
    for n in nights:
        counts.append(len(n.episodes))
        watched_h.append(n.watched_s / 3600)
        unwatched_h.append(n.unwatched_s / 3600)
    a, b, c = axes
    for ax in axes:
        _style(ax)
        ax.set_xticks(x[::every])
        ax.set_xticklabels(labels[::every], fontsize=7)
        ax.set_xlim(-0.6, len(nights) - 0.4)
    a.bar(x, counts, color="#6b6b6b")
    for ax in (a, b, c):  # a night with no data is not a night with no episodes: mark it across every panel
        for i, n in enumerate(nights):
            if n.empty:
                ax.axvspan(i - 0.45, i + 0.45, facecolor="none", hatch="////", edgecolor="#cccccc", lw=0)
                ax.text(i, 0.5, "no data", transform=ax.get_xaxis_transform(), rotation=90, ha="center",
                        va="center", fontsize=7, color="#555555", backgroundcolor="white")
    a.set_title("episodes per night", fontsize=9)
    a.yaxis.get_major_locator().set_params(integer=True)
    for i, n in enumerate(nights):
        ys = [v.episode.duration_s for v in n.episodes]
        cols = [LEVEL_COLOURS.get(v.level, LEVEL_COLOURS[None]) for v in n.episodes]
        if ys:
            b.scatter([i] * len(ys), ys, c=cols, edgecolors=INK, linewidths=0.5, s=28, zorder=3)
    b.set_title("episode durations (s)", fontsize=9)
    b.set_ylim(bottom=0)
    c.bar(x, watched_h, color="#74a9cf", label="watched")
    c.bar(x, unwatched_h, bottom=watched_h, color="white", hatch="////", edgecolor="#999999", lw=0.5,
          label="gaps")
    c.set_title("hours watched", fontsize=9)
    c.legend(fontsize=7, frameon=False, loc="lower left", bbox_to_anchor=(0, -0.42), ncol=2)


def _short_day(d: date) -> str:
    return f"{d:%a}\n{d.day} {d:%b}" if d.day == 1 else f"{d:%a}\n{d.day}"
