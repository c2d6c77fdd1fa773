# Settings and boot counter in flash. Runs under CPython and the micropython binary.
from anklet_fw.episode import PARAMS
from anklet_fw.settings import NAMES, BootLog, Settings
from anklet_fw.sim import PowerCut, RamFlash


def test_defaults_then_changes_persist():
    dev = RamFlash(2, 256)
    s = Settings(dev, rates=(26, 52, 104))
    assert s["start_s"] == PARAMS["start_s"][0] and s["fs"] == 52 and s["raw"] == 0
    s.set("start_s", 8)
    s.update({"fs": 104, "raw": 1})
    s2 = Settings(dev, rates=(26, 52, 104))
    assert (s2["start_s"], s2["fs"], s2["raw"]) == (8, 104, 1)
    assert s2.problems == []
    assert s2.detector_params()["start_s"] == 8


def test_bad_values_are_refused_with_the_reason_and_change_nothing():
    dev = RamFlash(2, 256)
    s = Settings(dev, rates=(25, 50, 100), defaults={"fs": 50})
    cases = (("start_s", 99, "start_s=99 is out of range 3..20"), ("fs", 52, "not a data rate of this band's IMU"),
             ("range_g", 3, "not a sensor range"), ("nope", 1, "unknown setting 'nope'"),
             ("raw", "1", "must be an integer"), ("rhythm_min", 100, "out of range 300..1000"))
    for name, value, reason in cases:
        try:
            s.set(name, value)
        except ValueError as exc:
            assert reason in str(exc), (name, str(exc))
        else:
            raise AssertionError((name, value))
    try:
        s.update({"gap_s": 1, "update_s": 0})  # one bad value: neither is applied
    except ValueError as exc:
        assert "update_s=0" in str(exc)
    assert s["gap_s"] == PARAMS["gap_s"][0] and s["update_s"] == PARAMS["update_s"][0]
    assert dev.writes == 0  # nothing was written
    assert Settings(dev, rates=(25, 50, 100), defaults={"fs": 50})["fs"] == 50


def test_many_changes_wrap_the_log_blocks():
    dev = RamFlash(2, 128)  # few records per block
    s = Settings(dev)
    for i in range(40):
        s.set("amp_min_mg", 10 + i)
    assert Settings(dev)["amp_min_mg"] == 49
    assert dev.erases[0] + dev.erases[1] >= 4


def test_power_cut_during_a_change_keeps_old_or_new():
    dev = RamFlash(2, 256)
    s = Settings(dev)
    s.set("start_s", 6)
    base = bytes(dev.mem)
    total = None
    cut = 0
    while True:
        dev.mem[:] = base
        dev.budget = cut
        s = Settings(dev)
        try:
            s.update({"start_s": 9, "gap_s": 4})
            total = cut
        except PowerCut:
            pass
        dev.budget = None
        got = Settings(dev)
        pair = (got["start_s"], got["gap_s"])
        assert pair in ((6, PARAMS["gap_s"][0]), (9, 4)), (cut, pair)
        if total is not None:
            assert pair == (9, 4)
            break
        cut += 1
    assert total > 60


def test_boot_counter_counts_and_keeps_the_reason():
    dev = RamFlash(2, 128)
    for i in range(1, 30):
        b = BootLog(dev)
        assert b.record(3 if i % 2 else 1) == i
    b = BootLog(dev)
    assert b.last_reason == 3


def test_older_records_load_with_defaults_for_new_names():
    dev = RamFlash(2, 256)
    s = Settings(dev)
    s.set("start_s", 7)
    # Pretend an older firmware wrote it: fewer values than NAMES, and a bad one
    p = bytearray(s.log.payload)
    p[5] = 3
    p[6 + 4 * 1] = 5  # rhythm_min = 5: out of range
    p[6 + 4 * 1 + 1] = 0
    s.log.write(p)
    s2 = Settings(dev)
    assert s2["start_s"] == 7 and s2["rhythm_min"] == PARAMS["rhythm_min"][0] and s2["status_s"] == 60
    assert "rhythm_min=5" in s2.problems[0]
    assert len(NAMES) == len(set(NAMES))


def test_a_flip_in_the_newest_settings_record_is_reported_not_silent():
    dev = RamFlash(2, 256)  # 3 records of 72 bytes a block
    s = Settings(dev)
    s.set("start_s", 7)
    s.set("start_s", 9)
    slot = s.log.slot
    dev.mem[1 * slot + 10] ^= 0x04  # one bit of the newest record (slot 1)
    s2 = Settings(dev)
    assert s2["start_s"] == 7  # the older record stands...
    assert s2.problems and "newest stored settings are damaged" in s2.problems[0]  # ...and it says so
    s2.set("start_s", 9)  # setting them again clears it
    assert Settings(dev).problems == [] and s2.problems == []
    # The first record of a block just begun, damaged: the newest record of the other block is older.
    s3 = Settings(dev)
    s3.set("start_s", 11)  # the block is full: this one begins block 1
    dev.mem[256 + 10] ^= 0x01
    s4 = Settings(dev)
    assert s4["start_s"] == 9 and "damaged" in s4.problems[0]


def test_boot_ids_differ_after_a_wipe():
    ids = set()
    for _ in range(4):
        b = BootLog(RamFlash(2, 128))  # a wiped flash each time
        b.record(1)
        ids.add(b.boot_id)
    assert len(ids) > 1  # a random base, not 1 every time (4 draws of 16 bits)
    dev = RamFlash(2, 128)
    b = BootLog(dev)
    b.record(1)
    b2 = BootLog(dev)
    b2.record(3)
    assert b2.count == 2 and b2.boot_id == (b.boot_id + 1) & 0xFFFF
