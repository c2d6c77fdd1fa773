"""The OpenSeizureDetector peer (bench baseline): its state machine and its frequency band."""

import numpy as np

from anklet import osd_peer


def mag(freq: float, amp_mg: float, seconds: int) -> np.ndarray:
    t = np.arange(seconds * osd_peer.FS) / osd_peer.FS
    return 1000 + amp_mg * np.sin(2 * np.pi * freq * t)


def test_three_seizure_like_datapoints_in_a_row_raise_the_alarm():
    flags = osd_peer.datapoint_flags(mag(5.0, 200, 60))
    assert flags.all()
    assert osd_peer.alarm_times(flags) == [15.0]


def test_one_clear_datapoint_resets_the_count():
    flags = np.array([1, 1, 0, 1, 1, 0, 1, 1, 1], bool)
    assert osd_peer.alarm_times(flags) == [45.0]


def test_slow_shaking_needs_the_wide_band_and_small_shaking_none():
    slow = mag(1.5, 200, 60)
    assert osd_peer.alarm_times(osd_peer.datapoint_flags(slow)) == []
    assert osd_peer.alarm_times(osd_peer.datapoint_flags(slow, osd_peer.WIDE), osd_peer.WIDE) == [15.0]
    assert not osd_peer.datapoint_flags(mag(5.0, 10, 60)).any()  # below AlarmThresh
