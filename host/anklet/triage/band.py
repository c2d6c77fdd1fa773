"""From a band episode in the log to the triage's "episode" inputs: the one adapter between the two.

Works on any object (or dict) with the log's Episode fields: id, onset (datetime or None), duration_s, freq_hz,
f_start_hz, f_end_hz, rhythm (0..1), amp_mg. The band only reports runs of rhythmic seconds (firmware
episode.py: at least ``start_s`` rhythmic seconds), so every band episode counts as rhythmic.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

DAY = timedelta(hours=24)
CLUSTER_WINDOW = timedelta(minutes=15)  # episodes this close together, counting back from the onset ...
CLUSTER_MIN = 3  # ... this many of them (this one included) make a cluster


def _get(ep: Any, name: str, default: Any = None) -> Any:
    if isinstance(ep, dict):
        return ep.get(name, default)
    return getattr(ep, name, default)


def episode_inputs(ep: Any, history: list[Any] | None = None) -> dict[str, Any]:
    """The "episode" section for one band episode.

    `history`: the band's episodes around it (for example ``store.episodes_since(onset - 24 h)``); it gives
    episodes_24h and cluster. Without it (or without a wall-clock onset) those stay unknown. after_waking is
    not measured by the band and stays unknown for the parents to answer.
    """
    out: dict[str, Any] = {"rhythmic": "yes"}
    for key, attr in (("duration_s", "duration_s"), ("frequency_hz", "freq_hz"), ("amplitude_mg", "amp_mg")):
        v = _get(ep, attr)
        if v is not None:
            out[key] = round(float(v), 2)
    f0, f1 = _get(ep, "f_start_hz"), _get(ep, "f_end_hz")
    if f0 and f1:
        out["frequency_drift_hz"] = round(float(f1) - float(f0), 2)
    onset = _get(ep, "onset")
    if history is not None and isinstance(onset, datetime):
        own_id = _get(ep, "id")
        onsets = [onset]
        for other in history:
            t = _get(other, "onset")
            if not isinstance(t, datetime) or (own_id is not None and _get(other, "id") == own_id):
                continue
            if t <= onset:
                onsets.append(t)
        out["episodes_24h"] = sum(1 for t in onsets if onset - t < DAY)
        out["cluster"] = "yes" if sum(1 for t in onsets if onset - t <= CLUSTER_WINDOW) >= CLUSTER_MIN else "no"
    return out


LOUD = ("alarm", "escalation")  # alarm levels that woke the parents (a NOTICE only shows on the screen)


def latest_episode(episodes: list[Any]) -> Any:
    """The episode the parents have just lived through: the latest that raised an ALARM, unless a later one is
    still going; with no alarm at all, the latest episode. `episodes` oldest first; None if empty."""
    if not episodes:
        return None
    alarmed = [i for i, e in enumerate(episodes) if _get(e, "max_level") in LOUD]
    if not alarmed:
        return episodes[-1]
    later_open = [e for e in episodes[alarmed[-1] + 1:] if _get(e, "open")]
    return later_open[-1] if later_open else episodes[alarmed[-1]]


def _duration(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def describe(ep: Any) -> str:
    """One sentence naming the episode for parents: when it started, how long, what the band measured."""
    parts = [f"Episode {_get(ep, 'id')}"]
    onset = _get(ep, "onset")
    if isinstance(onset, datetime):
        parts.append(f"started {onset:%a %d %b %H:%M:%S}")
    dur = _get(ep, "duration_s")
    if dur is not None:
        parts.append(f"still going after {_duration(dur)}" if _get(ep, "open") else f"lasted {_duration(dur)}")
    text = ", ".join(parts)
    meas = []
    if _get(ep, "freq_hz"):
        meas.append(f"rhythmic shaking at {float(_get(ep, 'freq_hz')):.1f} beats a second")
    if _get(ep, "amp_mg") is not None:
        meas.append(f"strength {int(_get(ep, 'amp_mg'))} mg")
    if meas:
        text += "; the band measured " + ", ".join(meas)
    level = _get(ep, "max_level")
    text += f"; it raised {'an' if level in ('alarm', 'escalation') else 'a'} {level.upper()}." if level \
        else "; it raised no alarm."
    return text


def short_name(ep: Any) -> str:
    """A few words naming the episode, repeated on every question."""
    onset = _get(ep, "onset")
    when = f" at {onset:%H:%M}" if isinstance(onset, datetime) else ""
    dur = _get(ep, "duration_s")
    return f"episode {_get(ep, 'id')}{when}" + (f", {_duration(dur)}" if dur is not None else "")


def from_store(store: Any, episode_id: int) -> tuple[Any, dict[str, Any]]:
    """The episode `episode_id` from the log, and its "episode" inputs (history read from the log)."""
    ep = store.episode(episode_id)
    onset = _get(ep, "onset")
    history = store.episodes_since(onset - DAY) if isinstance(onset, datetime) else None
    return ep, episode_inputs(ep, history)
