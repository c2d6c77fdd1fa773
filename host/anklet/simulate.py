"""Synthetic nights at the ankle, labelled with the truth, for replay and the bench.

The movement models and their parameter ranges are documented in docs/detector.md
with their sources (shared/DOMAIN.md gathers them). Every model adds an acceleration
(g) along a direction in the band's frame to gravity, which follows the leg's
posture; the sensor adds white noise. Everything random comes from one seeded
generator, so a seed gives the same night on every machine.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .cli import CliError

NOISE_G = 0.0012  # sensor noise RMS per axis (LSM6DS3TR-C ~90 ug/sqrt(Hz) over 26 Hz, plus margin)


@dataclass
class Truth:
    type: str
    start: float
    end: float
    params: dict = field(default_factory=dict)


class Night:
    """One night being built: time base, gravity, motion, and what was put where."""

    def __init__(self, rng: np.random.Generator, hours: float, rate: int = 100) -> None:
        self.rng = rng
        self.rate = rate
        self.n = int(round(hours * 3600 * rate))
        self.hours = hours
        self.motion = np.zeros((self.n, 3))
        self.truth: list[Truth] = []
        self.busy: list[tuple[float, float]] = []
        self.postures = [(0.0, self._leg_direction())]

    # -- helpers ---------------------------------------------------------------------------------
    def _leg_direction(self) -> np.ndarray:
        # A lying infant's lower leg: gravity mostly across the band, any roll.
        v = self.rng.normal(size=3)
        return v / np.linalg.norm(v)

    def direction(self, around: np.ndarray | None = None, spread: float = 0.3) -> np.ndarray:
        v = self.rng.normal(size=3) if around is None else around + spread * self.rng.normal(size=3)
        return v / np.linalg.norm(v)

    def free_slot(self, length: float, margin: float = 15.0, tries: int = 200) -> float | None:
        span = self.n / self.rate
        if span - length - 2 * margin <= 0:
            return None  # the night is too short for it
        for _ in range(tries):
            start = float(self.rng.uniform(margin, span - length - margin))
            if all(start + length + margin < a or start > b + margin for a, b in self.busy):
                return start
        return None

    def reserve(self, kind: str, start: float, end: float, **params: float) -> None:
        self.busy.append((start, end))
        self.truth.append(Truth(kind, round(start, 3), round(end, 3), params))

    def add(self, t0: float, wave: np.ndarray, direction: np.ndarray) -> None:
        i = int(round(t0 * self.rate))
        j = min(self.n, i + len(wave))
        if j > i >= 0:
            self.motion[i:j] += wave[: j - i, None] * direction[None, :]

    def jerk(self, t0: float, width: float, amp: float, direction: np.ndarray) -> None:
        """A brief movement: accelerate then decelerate, one sine cycle."""
        m = max(2, int(round(width * self.rate)))
        self.add(t0, amp * np.sin(2 * np.pi * np.arange(m) / m), direction)

    def oscillation(self, t0: float, dur: float, freq: float, amp: float, direction: np.ndarray,
                    harmonic: float = 0.0, envelope: np.ndarray | None = None) -> None:
        t = np.arange(int(dur * self.rate)) / self.rate
        phase = 2 * np.pi * freq * t + self.rng.uniform(0, 2 * np.pi)
        wave = amp * (np.sin(phase) + harmonic * np.sin(2 * phase))
        if envelope is not None:
            wave *= np.interp(t, np.linspace(0, dur, len(envelope)), envelope)
        self.add(t0, wave, direction)

    # -- movement models (docs/detector.md) --------------------------------------------------------
    def clonic(self, start: float, dur: float, subtle: bool = False, jitter: float | None = None,
               p_miss: float | None = None) -> None:
        """Clonic jerking as irregular as the real recordings (measured by `python -m anklet.seizure_stats`,
        docs/detector.md "What the real seizures look like"): period jitter 10-30 %, jerk size spread
        about 0.45-1.6x, up to one interval in five a missed beat, now and then a pause of 1-3 s, the
        jerk axis wandering around its mean (not measurable on magnitude-only recordings: assumed)."""
        rng = self.rng
        f0 = rng.uniform(1.2, 5.0)  # neonatal clonic is 1-3 Hz; older infants and wrists run faster
        slow = rng.uniform(0.0, min(0.4, 1 - 1.0 / f0))  # clonic jerking slows; stays >= 1 Hz
        drawn_jitter = rng.uniform(0.03, 0.30)  # down to nearly regular: an ankle may be steadier than a wrist
        size_lo, size_hi = math.log(0.45), math.log(1.6)
        drawn_miss = rng.uniform(0.02, 0.2)
        # (drawn even when given, so a seed gives the same night either way)
        jitter = drawn_jitter if jitter is None else jitter
        p_miss = drawn_miss if p_miss is None else p_miss
        p_pause = rng.uniform(0.0, 0.015)
        wander = rng.uniform(0.08, 0.3)
        amp = rng.uniform(0.06, 0.12) if subtle else math.exp(rng.uniform(math.log(0.12), math.log(1.5)))
        ramp = rng.uniform(3, 10)  # amplitude builds over the first seconds
        q = rng.uniform(0.25, 0.4)  # fast flexion, slower return
        base = self.direction()
        t, rates = start, []
        while t < start + dur:
            f = f0 * (1 - slow * (t - start) / dur)
            period = max(0.12, (1 / f) * (1 + jitter * rng.standard_normal()))
            if rng.random() < p_pause:
                t += rng.uniform(1.0, 3.0)
                continue
            if rng.random() >= p_miss:
                a = amp * (0.3 + 0.7 * min(1.0, (t - start) / ramp)) * math.exp(rng.uniform(size_lo, size_hi))
                m = int(round(period * self.rate))
                ph = np.arange(m) / m
                wave = np.where(ph < q, np.sin(np.pi * ph / q), -q / (1 - q) * np.sin(np.pi * (ph - q) / (1 - q)))
                self.add(t, a * wave, self.direction(base, wander))
            rates.append(1 / period)
            t += period
        self.reserve("clonic", start, t, freq_start=round(f0, 3), freq_end=round(f0 * (1 - slow), 3),
                     freq_mean=round(float(np.mean(rates)), 3), amp_g=round(amp, 4), subtle=subtle,
                     jitter=round(jitter, 3), p_miss=round(p_miss, 3))

    def stereotypy(self, t: float, dur: float) -> None:
        """Awake rhythmic kicking (Thelen's stereotypies): smooth, regular, 1-2.5 Hz, a few to 15 s."""
        rng = self.rng
        self.oscillation(t, dur, rng.uniform(1.0, 2.5), rng.uniform(0.1, 0.6), self.direction(),
                         harmonic=rng.uniform(0.0, 0.15), envelope=np.array([0.3, 1.0, 1.0, 0.6]))

    def hiccups(self, t: float, dur: float) -> None:
        """A bout of hiccups: a small sharp jolt of the whole body every 1.5-4 s, for minutes."""
        rng = self.rng
        gap = rng.uniform(1.5, 4.0)
        d = self.direction()
        c = t
        while c < t + dur:
            self.jerk(c, rng.uniform(0.06, 0.12), rng.uniform(0.01, 0.05), d)
            c += gap * (1 + 0.1 * rng.standard_normal())

    def sleep_myoclonus(self, start: float, length: float) -> float:
        """Benign neonatal sleep myoclonus: clusters of jerks, some rhythmic for up to ~10 s."""
        rng = self.rng
        t = start
        base = self.direction()
        while t < start + length:
            rhythmic = rng.random() < 0.35
            cdur = rng.uniform(3, 10) if rhythmic else rng.uniform(2, 8)
            rate = rng.uniform(1, 5)
            jitter = rng.uniform(0.04, 0.1) if rhythmic else rng.uniform(0.3, 0.6)
            amp = rng.uniform(0.1, 0.5)
            d = self.direction(base, 0.3)
            c = t
            while c < t + cdur:
                self.jerk(c, rng.uniform(0.06, 0.2), amp * max(0.3, 1 + 0.3 * rng.standard_normal()), d)
                c += max(0.1, (1 / rate) * (1 + jitter * rng.standard_normal()))
            t = c + rng.uniform(5, 60)
        return t

    def twitches(self, start: float, end: float, per_min: float) -> None:
        rng = self.rng
        t = start + rng.exponential(60 / per_min)
        while t < end:
            self.jerk(t, rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.6), self.direction())
            t += rng.exponential(60 / per_min)

    def startle(self, t: float) -> float:
        rng = self.rng
        w = rng.uniform(0.4, 1.0)
        self.jerk(t, w, rng.uniform(0.5, 1.5), self.direction())
        end = t + w
        if rng.random() < 0.6:  # followed by a few seconds of jittery tremor
            dur = rng.uniform(1, 5)
            self.oscillation(end, dur, rng.uniform(6, 11), rng.uniform(0.02, 0.08), self.direction(),
                             envelope=np.array([1.0, 0.6, 0.2]))
            end += dur
        return end

    def tremor(self, t: float, dur: float) -> None:
        self.oscillation(t, dur, self.rng.uniform(5, 11), self.rng.uniform(0.02, 0.1), self.direction())

    def kicking(self, t: float, dur: float) -> None:
        """Awake kicking: large, irregular or loosely periodic, direction changing kick to kick."""
        rng = self.rng
        rate = rng.uniform(0.6, 2.0)
        jitter = rng.uniform(0.15, 0.6)  # some bouts nearly cycle, most are ragged
        base = self.direction()
        c = t
        while c < t + dur:
            period = max(0.25, (1 / rate) * (1 + jitter * rng.standard_normal()))
            self.jerk(c, period * rng.uniform(0.6, 1.0), rng.uniform(0.3, 1.5), self.direction(base, 0.6))
            c += period

    def rocking(self, t: float, dur: float) -> None:
        self.oscillation(t, dur, self.rng.uniform(0.3, 0.9), self.rng.uniform(0.02, 0.1), self.direction(),
                         harmonic=self.rng.uniform(0.0, 0.1))

    def patting(self, t: float, dur: float) -> None:
        rng = self.rng
        rate = rng.uniform(1, 3)
        amp = rng.uniform(0.005, 0.02)  # what reaches the ankle from a hand on the back
        d = self.direction()
        c = t
        while c < t + dur:
            self.jerk(c, 0.12, amp, d)
            c += (1 / rate) * (1 + 0.03 * rng.standard_normal())

    def posture_change(self, t: float) -> None:
        self.jerk(t, 1.0, self.rng.uniform(0.2, 0.6), self.direction())
        self.postures.append((t, self._leg_direction()))

    # -- output ------------------------------------------------------------------------------------
    def gravity(self) -> np.ndarray:
        g = np.empty((self.n, 3))
        times = [int(round(t * self.rate)) for t, _ in self.postures] + [self.n]
        for (_, v), i0, i1 in zip(self.postures, times[:-1], times[1:], strict=True):
            g[i0:i1] = v
        # Turn over about 1.5 s rather than jump.
        k = int(1.5 * self.rate)
        for i0 in times[1:-1]:
            a, b = max(0, i0 - k), min(self.n, i0 + k)
            w = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, b - a))
            mix = g[a][None, :] * (1 - w[:, None]) + g[b - 1][None, :] * w[:, None]
            g[a:b] = mix / np.linalg.norm(mix, axis=1, keepdims=True)
        return g

    def micro_motion(self) -> np.ndarray:
        """What a living leg adds even lying still: breathing and pulse rock it by a few mg (0.4-1 Hz),
        and its resting tilt wanders by a few mg a minute. (An assumption, not a measurement: no
        infant-ankle recordings exist; it is what lets the band tell a still leg from a table.)"""
        rng = self.rng
        t = np.arange(self.n) / self.rate
        f = rng.uniform(0.4, 1.0)
        breath = rng.uniform(0.001, 0.003) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        step = max(1, self.rate)  # the tilt wanders second by second, smoothly in between
        k = self.n // step + 2
        walk = np.cumsum(rng.normal(0, 0.0008, (k, 3)), axis=0)
        walk -= np.linspace(0, 1, k)[:, None] * walk[-1][None, :]  # bounded over the night
        drift = np.column_stack([np.interp(np.arange(self.n), np.arange(k) * step, walk[:, i]) for i in range(3)])
        return breath[:, None] * self.direction()[None, :] + drift

    def signal(self) -> tuple[np.ndarray, np.ndarray]:
        t = np.arange(self.n) / self.rate
        acc = self.gravity() + self.motion + self.micro_motion() + NOISE_G * self.rng.standard_normal((self.n, 3))
        return t, acc


def night(seed: int, hours: float = 8.0, seizures: int = 1, rate: int = 100,
          seizure_durations: tuple[float, float] = (10.0, 300.0), subtle_share: float = 0.2) -> Night:
    """A whole night: sleep cycles with twitches, occasional startles, tremor, kicking, rocking,
    patting, sleep myoclonus, posture changes, and `seizures` clonic episodes."""
    rng = np.random.default_rng(seed)
    nt = Night(rng, hours, rate)
    span = hours * 3600
    for _ in range(seizures):
        lo, hi = seizure_durations
        dur = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        start = nt.free_slot(dur + 5, margin=40)
        if start is not None:
            nt.clonic(start, dur, subtle=bool(rng.random() < subtle_share))

    def place(kind: str, per_hour: float, length) -> None:
        for _ in range(rng.poisson(per_hour * hours)):
            dur = length()
            start = nt.free_slot(dur)
            if start is None:
                continue
            getattr(nt, kind)(start, dur)
            nt.reserve(kind, start, start + dur)

    place("kicking", 0.6, lambda: rng.uniform(10, 120))
    place("tremor", 0.4, lambda: rng.uniform(2, 6))
    place("rocking", 0.15, lambda: rng.uniform(60, 600))
    place("patting", 0.1, lambda: rng.uniform(60, 300))
    place("stereotypy", 0.5, lambda: rng.uniform(3, 15))
    place("hiccups", 0.1, lambda: rng.uniform(60, 600))
    for _ in range(rng.poisson(0.5 * hours)):
        start = nt.free_slot(8)
        if start is not None:
            nt.reserve("startle", start, nt.startle(start))
    if rng.random() < 0.4:
        length = rng.uniform(300, 1800)
        start = nt.free_slot(length + 60)
        if start is not None:
            nt.reserve("sleep_myoclonus", start, nt.sleep_myoclonus(start, length))
    # Sleep cycles of about an hour, each with a REM stretch full of twitches.
    cycle = 0.0
    while cycle < span:
        rem0 = cycle + rng.uniform(25, 40) * 60
        rem1 = min(span, rem0 + rng.uniform(10, 25) * 60)
        nt.twitches(cycle, min(rem0, span), 0.2)
        if rem0 < span:
            nt.twitches(rem0, rem1, rng.uniform(1, 6))
            nt.truth.append(Truth("rem_twitches", round(rem0, 3), round(rem1, 3)))
        cycle = rem1
    for _ in range(rng.poisson(hours)):
        t = float(rng.uniform(30, span - 30))
        nt.posture_change(t)
        nt.truth.append(Truth("posture_change", round(t, 3), round(t + 1.0, 3)))
    nt.postures.sort(key=lambda p: p[0])
    nt.truth.sort(key=lambda x: x.start)
    return nt


def truth_json(nt: Night, seed: int) -> dict:
    return {"seed": seed, "hours": nt.hours, "rate": nt.rate, "events": [asdict(t) for t in nt.truth]}


def _cmd(args: argparse.Namespace) -> int:
    if args.nights < 1 or args.hours <= 0 or args.hours > 24:
        raise CliError("--nights must be at least 1 and --hours between 0 and 24")
    if args.rate < 1 or args.seizures < 0 or args.seed < 0:
        raise CliError("--rate must be at least 1 Hz, --seizures and --seed 0 or more")
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    from .trace import write

    for i in range(args.nights):
        seed = args.seed * 1000 + i
        nt = night(seed, args.hours, args.seizures, args.rate)
        t, acc = nt.signal()
        name = f"night_{i:03d}"
        write(out / f"{name}.csv", t, acc)
        (out / f"{name}.json").write_text(json.dumps(truth_json(nt, seed), indent=1))
        n_clonic = sum(1 for x in nt.truth if x.type == "clonic")
        print(f"{out / name}.csv: {args.hours:g} h at {args.rate} Hz, {n_clonic} clonic episode(s), "
              f"{len(nt.truth)} labelled movements")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="write labelled synthetic nights (CSV traces plus JSON truth)")
    p.add_argument("outdir")
    p.add_argument("--nights", type=int, default=1)
    p.add_argument("--hours", type=float, default=8.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seizures", type=int, default=1, help="clonic episodes per night (0 for a seizure-free night)")
    p.add_argument("--rate", type=int, default=100, help="sample rate of the written trace in Hz")
    p.set_defaults(func=_cmd)
