# From one feature set per second to episode events: START, UPDATE, END.
#
# A second is seizure-like when its score (scorer.py: the second and the ones
# before it, through trees learned from real recordings) reaches `score_min` and
# it has enough amplitude. A run becomes an episode once `start_hops` seconds are
# seizure-like; up to `gap_hops` other seconds inside a run are forgiven, and once
# a run is under way a second needs only `score_min - HOLD` to continue it
# (hysteresis: real clonic jerking pauses, slows and changes rate, and one
# seizure must stay one episode). The frequency is reported, not required to stay
# put. The onset is dated back to where the first window began. Shared verbatim
# by the band and the host's numpy twin, which only computes the features
# differently.
from array import array

from . import events as ev

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


SCORE_MIN = const(256)  # chosen on the development set: docs/detector.md, "Choosing the threshold"

# name: (default, lowest, highest). The band's settings validate against these.
PARAMS = {
    "amp_min_mg": (20, 8, 500),  # smallest RMS amplitude that counts as rhythm
    # Kept for its id in the stored settings; no longer part of the decision (the score weighs rhythm).
    "rhythm_min": (560, 300, 1000),
    "start_s": (6, 3, 20),  # seizure-like seconds before an episode starts (a 3 s burst fills 5 windows)
    "update_s": (2, 1, 10),  # seconds between UPDATE events
    "gap_s": (4, 0, 8),  # other seconds tolerated inside an episode
    "score_min": (SCORE_MIN, -4096, 4096),  # seizure score (1/256 log-odds) a second needs
}
HOLD = const(512)  # how much lower the score may go once a run is under way
# Estimates just outside 1..8 Hz still count: a true 8.0 Hz can read 8.05.
F_MIN_CHZ = const(95)
F_MAX_CHZ = const(850)
ONSET_BACK_MS = const(5000)  # first window's start (3 s, 0.5 s filter delay) and the score's context lag: measured 3 s late at 2000
END_BACK_MS = const(2000)  # likewise, the last rhythmic window still holds 2 s of rhythm after it stops
_EDGE = const(5)  # seconds averaged for the start and end frequency


def check_params(values):
    """Defaults overlaid with `values`; ValueError naming the first bad one."""
    out = {}
    for name in PARAMS:
        out[name] = PARAMS[name][0]
    for name, val in values.items():
        if name not in PARAMS:
            raise ValueError("unknown detector setting %r" % name)
        lo, hi = PARAMS[name][1], PARAMS[name][2]
        if not isinstance(val, int) or not lo <= val <= hi:
            raise ValueError("%s=%r out of range %d..%d" % (name, val, lo, hi))
        out[name] = val
    return out


class Episodes:
    def __init__(self, sink, params):
        self.sink = sink  # object with emit(kind, t_ms, f0..f6)
        self.amp_min = params["amp_min_mg"]
        self.score_min = params["score_min"]
        self.start_hops = params["start_s"]
        self.update_ms = params["update_s"] * 1000
        self.gap_hops = params["gap_s"]
        self.f_last = array("i", bytes(4 * _EDGE))
        self._clear()

    def _clear(self):
        self.run = 0  # rhythmic seconds in the current run
        self.gap = 0
        self.open = False
        self.first_ms = 0
        self.last_ms = 0
        self.fref = 0
        self.f_sum = self.f_n = 0
        self.f_start_sum = 0
        self.r_sum = self.r_n = 0
        self.amp_max = 0
        self.next_update = 0

    def hop(self, t_ms, amp_mg, rhythm, freq_chz, score):
        """One second of features; returns True when the second counted as seizure-like."""
        bar = self.score_min - HOLD if self.run else self.score_min
        ok = score >= bar and amp_mg >= self.amp_min
        if ok:
            self._rhythm(t_ms, amp_mg, rhythm, freq_chz)
            return True
        if self.run:
            self.gap += 1
            if self.gap > self.gap_hops:
                self._end(t_ms)
        return False

    def _rhythm(self, t_ms, amp_mg, rhythm, f):
        if self.run == 0:
            self.first_ms = t_ms
        self.run += 1
        self.gap = 0
        self.last_ms = t_ms
        self.r_sum += rhythm
        self.r_n += 1
        if f and F_MIN_CHZ <= f <= F_MAX_CHZ:  # seconds without a clear period carry no frequency
            self.fref = f if self.f_n == 0 else self.fref + ((f - self.fref) >> 2)
            self.f_last[self.f_n % _EDGE] = f
            if self.f_n < _EDGE:
                self.f_start_sum += f
            self.f_sum += f
            self.f_n += 1
        if amp_mg > self.amp_max:
            self.amp_max = amp_mg
        onset = self.first_ms - ONSET_BACK_MS
        if onset < 0:
            onset = 0
        if not self.open:
            if self.run >= self.start_hops:
                self.open = True
                self.next_update = t_ms + self.update_ms
                self.sink.emit(ev.START, t_ms, onset, self.fref, rhythm, amp_mg, 0, 0, 0)
        elif t_ms >= self.next_update:
            self.next_update += self.update_ms
            self.sink.emit(ev.UPDATE, t_ms, onset, t_ms - onset, self.fref, rhythm, amp_mg,
                           self._f_end() - self._f_start(), 0)

    def _f_start(self):
        n = self.f_n if self.f_n < _EDGE else _EDGE
        return self.f_start_sum // n if n else 0

    def _f_end(self):
        n = self.f_n if self.f_n < _EDGE else _EDGE
        if n == 0:
            return 0
        s = 0
        for i in range(n):
            s += self.f_last[i]
        return s // n

    def _end(self, t_ms):
        if self.open:
            onset = self.first_ms - ONSET_BACK_MS
            if onset < 0:
                onset = 0
            self.sink.emit(ev.END, t_ms, onset, max(0, self.last_ms - END_BACK_MS - onset),
                           self.f_sum // self.f_n if self.f_n else 0, self._f_start(), self._f_end(),
                           self.r_sum // self.r_n, self.amp_max)
        self._clear()
