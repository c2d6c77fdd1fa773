# The per-minute activity summary: context for the host between episodes, and a
# heartbeat that proves the band is still watching.
from . import events as ev

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


MINUTE_HOPS = const(60)


class Activity:
    def __init__(self, sink):
        self.sink = sink
        self.posture = -1
        self._clear()

    def _clear(self):
        self.n = 0
        self.amp_sum = 0
        self.jerks = 0
        self.rhythm_s = 0
        self.changes = 0
        self.sat = 0
        self.active_s = 0

    def hop(self, t_ms, amp_mg, jerks, rhythmic, posture, sat, active):
        self.n += 1
        self.amp_sum += amp_mg
        self.jerks += jerks
        self.sat += sat
        if rhythmic:
            self.rhythm_s += 1
        if active:
            self.active_s += 1
        if posture != self.posture:
            if self.posture >= 0:
                self.changes += 1
            self.posture = posture
        if self.n == MINUTE_HOPS:
            self.sink.emit(ev.ACTIVITY, t_ms, self.amp_sum // MINUTE_HOPS, self.jerks, self.rhythm_s,
                           posture, self.changes, self.sat, self.active_s)
            self._clear()
