"""The host's alarm rule on device events: NOTICE 10 s, ALARM 20 s (10-120), ESCALATION 300 s."""

from __future__ import annotations

import pytest

from anklet.alarm import AlarmRule
from anklet.records import DeviceEvent


def start(t, onset):
    return DeviceEvent("start", t * 1000, {"onset_ms": onset * 1000, "freq_chz": 200, "rhythm": 900, "amp_mg": 100})


def update(t, onset):
    return DeviceEvent("update", t * 1000, {"onset_ms": onset * 1000, "dur_ms": (t - onset) * 1000,
                                            "freq_chz": 190, "rhythm": 900, "amp_mg": 100, "drift_chz": -10})


def end(t, onset, dur):
    return DeviceEvent("end", t * 1000, {"onset_ms": onset * 1000, "dur_ms": dur * 1000, "freq_chz": 190,
                                         "f_start_chz": 200, "f_end_chz": 180, "rhythm": 900, "amp_mg": 100})


def feed(rule, events):
    return [(d.level, d.t) for e in events for d in rule.feed(e)]


def test_levels_raised_once_each_at_their_thresholds():
    rule = AlarmRule()
    evs = [start(106, 100)] + [update(t, 100) for t in range(108, 420, 2)] + [end(423, 100, 320)]
    assert feed(rule, evs) == [("notice", 110), ("alarm", 120), ("escalation", 400), ("clear", 423)]


@pytest.mark.parametrize("alarm_s", [10, 45, 120])
def test_alarm_threshold_setting(alarm_s):
    rule = AlarmRule(alarm_s)
    out = feed(rule, [start(106, 100)] + [update(t, 100) for t in range(108, 300, 2)])
    first_update_past = min(t for t in range(108, 300, 2) if t - 100 >= alarm_s)
    assert ("alarm", first_update_past) in out
    assert [lvl for lvl, _ in out].count("alarm") == 1


@pytest.mark.parametrize("bad", [5, 9.9, 121, 1000])
def test_alarm_threshold_out_of_range_refused(bad):
    with pytest.raises(ValueError, match="10 to 120"):
        AlarmRule(bad)


def test_short_episode_raises_nothing():
    rule = AlarmRule()
    assert feed(rule, [start(106, 100), update(108, 100), end(111, 100, 7)]) == []


def test_end_with_long_duration_raises_the_level_it_reached():
    # The last UPDATE showed 18 s; the END says it lasted 24 s: the alarm must still come.
    rule = AlarmRule()
    out = feed(rule, [start(106, 100), update(118, 100), end(126, 100, 24)])
    assert out == [("notice", 118), ("alarm", 126), ("clear", 126)]


def test_a_new_episode_gets_its_own_alarms_and_a_reset_closes_the_old():
    rule = AlarmRule()
    out = feed(rule, [start(106, 100), update(121, 100), DeviceEvent("boot", 0, {"reason": 1, "boot_count": 2, "fw_version": 1}),
                      start(56, 50), update(72, 50)])
    assert out == [("notice", 121), ("alarm", 121), ("clear", 0), ("notice", 72), ("alarm", 72)]


def test_activity_and_status_events_are_ignored():
    rule = AlarmRule()
    assert rule.feed(DeviceEvent("activity", 60000, {"movement_mg": 5})) == []
