# From one feature set per second to episode events: START, UPDATE, END.
#
# A second is rhythmic when its window has a strong autocorrelation peak in
# 1..8 Hz with enough amplitude. A run of rhythmic seconds whose frequency stays
# near the run's own (clonic seizures slow down gradually; kicking jumps around)
# becomes an episode once `start_hops` seconds are rhythmic; up to `gap_hops`
# non-rhythmic seconds inside a run are forgiven. The onset is dated back to
# where the first rhythmic window began. Shared verbatim by the band and the
# host's numpy twin, which only computes the features differently.
from array import array

from . import events as ev

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# name: (default, lowest, highest). The band's settings validate against these.
PARAMS = {
    "amp_min_mg": (20, 8, 500),  # smallest RMS amplitude that counts as rhythm
    "rhythm_min": (560, 300, 1000),  # autocorrelation peak, 1024 = perfectly periodic
    "start_s": (6, 3, 20),  # rhythmic seconds before an episode starts (a 3 s burst fills 5 windows)
    "update_s": (2, 1, 10),  # seconds between UPDATE events
    "gap_s": (2, 0, 5),  # non-rhythmic seconds tolerated inside an episode
}
# Estimates just outside 1..8 Hz still count: a true 8.0 Hz can read 8.05.
F_MIN_CHZ = const(95)
F_MAX_CHZ = const(850)
ONSET_BACK_MS = const(2000)  # first rhythmic window's start: 3 s window, 0.5 s filter delay, half-filled
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
        self.rhythm_min = params["rhythm_min"]
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
        self.r_sum = 0
        self.amp_max = 0
        self.next_update = 0

    def rhythmic(self, amp_mg, rhythm, freq_chz):
        return (
            rhythm >= self.rhythm_min and amp_mg >= self.amp_min and F_MIN_CHZ <= freq_chz <= F_MAX_CHZ
        )

    def hop(self, t_ms, amp_mg, rhythm, freq_chz):
        """One second of features; returns True when the second counted as rhythm."""
        ok = self.rhythmic(amp_mg, rhythm, freq_chz)
        if ok and self.run and 10 * abs(freq_chz - self.fref) > 3 * self.fref:
            ok = False  # rhythm, but not this run's: let the gap logic decide
        if ok:
            self._rhythm(t_ms, amp_mg, rhythm, freq_chz)
            return True
        if self.run:
            self.gap += 1
            if self.gap > self.gap_hops:
                self._end(t_ms)
                if self.rhythmic(amp_mg, rhythm, freq_chz):
                    self._rhythm(t_ms, amp_mg, rhythm, freq_chz)
                    return True
        return False

    def _rhythm(self, t_ms, amp_mg, rhythm, f):
        if self.run == 0:
            self.first_ms = t_ms
            self.fref = f
        else:
            self.fref += (f - self.fref) >> 2
        self.f_last[self.run % _EDGE] = f
        if self.run < _EDGE:
            self.f_start_sum += f
        self.run += 1
        self.gap = 0
        self.last_ms = t_ms
        self.f_sum += f
        self.f_n += 1
        self.r_sum += rhythm
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
        n = self.run if self.run < _EDGE else _EDGE
        return self.f_start_sum // n

    def _f_end(self):
        n = self.run if self.run < _EDGE else _EDGE
        s = 0
        for i in range(n):
            s += self.f_last[i]
        return s // n

    def _end(self, t_ms):
        if self.open:
            onset = self.first_ms - ONSET_BACK_MS
            if onset < 0:
                onset = 0
            self.sink.emit(ev.END, t_ms, onset, max(0, self.last_ms - END_BACK_MS - onset), self.f_sum // self.f_n,
                           self._f_start(), self._f_end(), self.r_sum // self.f_n, self.amp_max)
        self._clear()
