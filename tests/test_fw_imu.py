# IMU drivers against register-level fake chips. Runs under CPython (pytest) and
# under the `micropython` binary (test_fw_micropython.py).
from array import array

from anklet_fw.imu import ImuError, probe
from anklet_fw.imu_lsm6 import LSM6
from anklet_fw.imu_mpu6886 import MPU6886
from anklet_fw.sim import ArraySource, FakeI2C, FakeLSM6, FakeMPU6886

PARTS = (("lsm6ds3trc", 52), ("lsm6dso", 52), ("mpu6886", 50))


def ramp(n):
    d = array("h", bytes(6 * n))
    for i in range(n):
        d[3 * i] = i * 7 - 300
        d[3 * i + 1] = -i * 5
        d[3 * i + 2] = 4096 + i
    return d


def rig(part, n=600, extra_tags=0):
    src = ArraySource(ramp(n))
    if part == "mpu6886":
        chip = FakeMPU6886(src)
        bus = FakeI2C(chip)
        return chip, bus, MPU6886(bus, 0x68)
    chip = FakeLSM6(src, 0x6A, 0x6C if part == "lsm6dso" else 0x6A, extra_tags=extra_tags)
    bus = FakeI2C(chip)
    return chip, bus, LSM6(bus, 0x6A)


def test_each_part_delivers_every_sample_in_order():
    for part, fs in PARTS:
        chip, bus, imu = rig(part)
        imu.configure(fs, 8)
        buf = array("h", bytes(6 * 80))
        got = []
        for _ in range(5):
            chip.tick(fs)
            n = imu.read(buf)
            assert n == fs, (part, n)
            got.extend(buf[: 3 * n])
        want = ramp(5 * fs)
        assert got == list(want), part
        assert imu.overflows == 0 and imu.errors == 0


def test_chip_id_identifies_part_and_range_scales_counts():
    _, _, imu = rig("lsm6dso")
    assert imu.PART == "LSM6DSO" and imu.chip_id == 0x6C
    for part, fs in PARTS:
        chip, _, imu = rig(part)
        imu.configure(fs, 2)  # 16384 counts per g: four times the +-8 g counts
        chip.tick(3)
        buf = array("h", bytes(18))
        assert imu.read(buf) == 3
        assert list(buf[:3]) == [-1200, 0, 16384], part


def test_wrong_or_absent_chip_is_refused_clearly():
    src = ArraySource(ramp(1))
    bus = FakeI2C(FakeMPU6886(src, 0x6A))  # an MPU6886 where an LSM6 should be
    try:
        LSM6(bus, 0x6A)
    except ImuError as exc:
        assert "WHO_AM_I" in str(exc)
    else:
        raise AssertionError("accepted the wrong chip")
    try:
        MPU6886(FakeI2C(), 0x68)
    except ImuError as exc:
        assert "no MPU6886 answers at 0x68" in str(exc)
    else:
        raise AssertionError("accepted an empty bus")
    assert isinstance(probe(bus, 0x6A), MPU6886)
    assert isinstance(probe(FakeI2C(FakeLSM6(src)), 0x6A, "lsm6ds3trc"), LSM6)


def test_unsupported_rate_or_range_is_refused_by_name():
    for part, good in PARTS:
        _, _, imu = rig(part)
        for fs, rg, word in ((60, 8, "60 Hz"), (52 if part == "mpu6886" else 50, 8, "Hz"), (good, 3, "+-3 g")):
            try:
                imu.configure(fs, rg)
            except ValueError as exc:
                assert word in str(exc), (part, str(exc))
            else:
                raise AssertionError((part, fs, rg))


def test_fifo_overflow_is_detected_counted_and_recovered():
    for part, fs in PARTS:
        chip, _, imu = rig(part, n=3000)
        imu.configure(fs, 8)
        chip.tick(1000)  # far more than any of the FIFOs hold
        buf = array("h", bytes(6 * 64))
        assert imu.read(buf) == 0
        assert imu.overflows == 1, part
        chip.tick(10)
        assert imu.read(buf) == 10, part
        start = chip.samples - 10
        want = ramp(3000)
        assert list(buf[:30]) == list(want[3 * start : 3 * start + 30]), part


def test_small_buffer_leaves_the_rest_for_the_next_read():
    for part, fs in PARTS:
        chip, _, imu = rig(part)
        imu.configure(fs, 8)
        chip.tick(45)
        buf = array("h", bytes(6 * 20))
        got = []
        while True:
            n = imu.read(buf)
            if not n:
                break
            got.extend(buf[: 3 * n])
        assert got == list(ramp(45)), part


def test_transient_bus_errors_are_retried_and_persistent_ones_raise():
    for part, fs in PARTS:
        chip, bus, imu = rig(part)
        imu.configure(fs, 8)
        chip.tick(fs)
        buf = array("h", bytes(6 * 64))
        bus.fail_reads = 2
        assert imu.read(buf) == fs
        assert imu.errors == 2
        chip.tick(5)
        bus.fail_reads = 50
        try:
            imu.read(buf)
        except ImuError as exc:
            assert "failed after 4 tries" in str(exc)
        else:
            raise AssertionError("a dead bus went unnoticed")
        bus.fail_reads = 0
        assert imu.read(buf) == 5  # keeps working once the bus recovers
        assert imu.errors == 6


def test_dso_skips_words_of_other_sensors():
    chip, _, imu = rig("lsm6dso", extra_tags=4)
    imu.configure(52, 8)
    chip.tick(52)
    buf = array("h", bytes(6 * 64))
    got = []
    while True:
        n = imu.read(buf)
        if not n:
            break
        got.extend(buf[: 3 * n])
    assert got == list(ramp(52))
