# The sampling loop with fake chip, RAM flash and a fake clock. Runs under CPython
# and under the micropython binary.
import math
from array import array

from anklet_fw import band as bandmod
from anklet_fw import events as ev
from anklet_fw import packet_host as packet
from anklet_fw.band import Band
from anklet_fw.sim import ArraySource, FakeI2C, FakeLSM6, FakeMPU6886, RamFlash

FS = 52


class Clock:
    def __init__(self):
        self.t = 0

    def ticks_ms(self):
        return self.t

    def ticks_diff(self, a, b):
        return a - b


class WDT:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class ADC:
    def __init__(self, uv):
        self.uv = uv

    def read_uv(self):
        return self.uv


def shaking(seconds_still, seconds_shake, fs=FS, hz=3, amp_g=0.3):
    # Still, then clonic-like jerking along x (conftest.shake's beat: a fast flexion, a slower return, period and
    # size varying beat to beat), then still; counts at +-8 g. Pure Python: this file also runs under MicroPython.
    n = fs * (seconds_still + seconds_shake + seconds_still)
    d = array("h", bytes(6 * n))
    for i in range(n):
        d[3 * i + 1] = 200
        d[3 * i + 2] = 4096
    q = 0.3
    seed = 12345
    i0 = fs * seconds_still
    end = i0 + fs * seconds_shake
    while i0 < end:
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        m = max(2, int(fs / hz * (1 + 0.16 * (seed / 0x7FFFFFFF - 0.5))))
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        a = amp_g * 4096 * (0.7 + 0.6 * seed / 0x7FFFFFFF)
        for k in range(min(m, end - i0)):
            ph = k / m
            w = math.sin(math.pi * ph / q) if ph < q else -q / (1 - q) * math.sin(math.pi * (ph - q) / (1 - q))
            d[3 * (i0 + k)] = int(a * w)
        i0 += m
    return d


def rig(data, part="lsm6", flash=None, **kw):
    src = ArraySource(data)
    chip = FakeMPU6886(src) if part == "mpu" else FakeLSM6(src)
    bus = FakeI2C(chip)
    from anklet_fw.imu import probe

    imu = probe(bus, chip.addr)
    clock = Clock()
    wdt = WDT()
    flash = flash or RamFlash(24, 4096)
    b = Band(imu, flash, clock, wdt=wdt, **kw)
    return b, chip, bus, clock, wdt


def run_seconds(b, chip, clock, seconds, fs=FS):
    for _ in range(seconds):
        clock.t += 1000
        chip.tick(fs)
        b.step()


def queued(b, holes=0):
    # `holes`: how many seqs may be unreadable (a record cut by a power loss: its seq burnt, reported lost)
    out = []
    buf = bytearray(42)
    for s in range(b.queue.first_seq(), b.queue.next_seq()):
        if not b.queue.read_into(s, buf):
            holes -= 1
            assert holes >= 0, s
            continue
        seq, boot, kind, t_ms, f = packet.decode(buf)
        out.append((seq, boot, kind, t_ms, list(f)))
    return out


def test_boot_event_first_then_episode_events_reach_flash():
    b, chip, _, clock, wdt = rig(shaking(10, 40), reset_reason=bandmod.REASON_POWER_ON)
    assert b.boot_count == 1
    run_seconds(b, chip, clock, 70)
    evs = queued(b)
    assert evs[0][2] == ev.BOOT and evs[0][4][:3] == [bandmod.REASON_POWER_ON, 1, bandmod.FW_VERSION]
    kinds = [e[2] for e in evs]
    assert ev.START in kinds and ev.END in kinds, kinds
    assert ev.ACTIVITY in kinds and ev.STATUS in kinds
    start = evs[kinds.index(ev.START)]
    assert 250 <= start[4][1] <= 350  # freq_chz near 3 Hz
    assert [e[0] for e in evs] == list(range(1, len(evs) + 1))
    assert wdt.feeds == 70 and b.det.overrun == 0
    assert b.samples_in == 70 * FS


def test_status_reports_battery_wear_overflows_and_depth():
    still = array("h", [0, 200, 4096] * (FS * 30))
    b, chip, _, clock, _ = rig(still, adc=ADC(1900000), bat_div=(2, 1))
    b.apply_settings({"status_s": 10, "off_min": 5})
    run_seconds(b, chip, clock, 20)
    mv, pct, worn, ovf, depth, up, flags = b.status()
    assert mv == 3800 and pct == 50 and worn == 1 and ovf == 0 and up == 20
    assert depth == b.queue.depth() > 0
    chip.tick(2000)  # the loop stalled: the FIFO overflowed
    clock.t += 40000
    b.step()
    assert b.status()[3] == 1
    run_seconds(b, chip, clock, 5 * 60 + 10)  # five minutes without any movement: not worn
    assert b.status()[2] == 0
    st = [e for e in queued(b) if e[2] == ev.STATUS]
    assert st[-1][4][2] == 0 and st[0][4][0] == 3800
    assert b.status()[6] & bandmod.FLAG_NO_BATTERY == 0


def test_dead_bus_starves_the_watchdog_but_the_loop_goes_on():
    b, chip, bus, clock, wdt = rig(shaking(5, 5))
    run_seconds(b, chip, clock, 3)
    assert wdt.feeds == 3
    bus.fail_reads = 10**6
    run_seconds(b, chip, clock, 4)
    assert wdt.feeds == 3 and b.imu_errors == 4
    assert b.status()[6] & bandmod.FLAG_IMU_ERROR
    assert "failed after" in b.last_error
    bus.fail_reads = 0
    run_seconds(b, chip, clock, 2)
    assert wdt.feeds == 5 and not b.status()[6] & bandmod.FLAG_IMU_ERROR


def test_reset_keeps_unacknowledged_events_and_counts_boots():
    flash = RamFlash(24, 4096)
    b, chip, _, clock, _ = rig(shaking(5, 30), flash=flash)
    run_seconds(b, chip, clock, 50)
    before = queued(b)
    b.queue.ack(before[2][0])
    b2, chip2, _, clock2, _ = rig(shaking(1, 1), flash=flash, reset_reason=bandmod.REASON_WATCHDOG)
    after = queued(b2)
    assert b2.boot_count == 2
    assert after[: len(before) - 3] == before[3:]
    boot = after[-1]
    assert boot[2] == ev.BOOT and boot[1] == b2.boot_id == (b.boot_id + 1) & 0xFFFF and boot[4][0] == bandmod.REASON_WATCHDOG
    assert boot[0] == before[-1][0] + 1


def test_raw_mode_streams_every_sample():
    got = []

    def sink(buf, n):
        got.extend(buf[: 3 * n])

    data = shaking(2, 2, fs=50)
    b, chip, _, clock, _ = rig(data, part="mpu", raw_sink=sink)
    assert b.settings["fs"] == 50
    run_seconds(b, chip, clock, 2, fs=50)
    assert got == []
    b.apply_settings({"raw": 1})
    run_seconds(b, chip, clock, 3, fs=50)
    assert got == list(data[3 * 100 : 3 * 250])
    assert b.status()[6] & bandmod.FLAG_RAW


def test_settings_changes_are_validated_and_reconfigure_the_imu():
    b, chip, _, clock, _ = rig(shaking(2, 2))
    try:
        b.apply_settings({"fs": 50})
    except ValueError as exc:
        assert "not a data rate" in str(exc)
    else:
        raise AssertionError("took a rate the LSM6 lacks")
    b.apply_settings({"fs": 104, "start_s": 4})
    assert b.det.fs == 104 and chip.rate() == 104 and b.settings["start_s"] == 4
    run_seconds(b, chip, clock, 2, fs=104)
    assert b.samples_in == 208


def test_full_queue_reports_dropped_records():
    flash = RamFlash(4 + 2 + 2, 512)  # settings, boots, journal and a tiny ring of 2 x 12 slots
    b, chip, _, clock, _ = rig(array("h", [0, 200, 4096] * 10), flash=flash)
    b.apply_settings({"status_s": 10})
    run_seconds(b, chip, clock, 60 * 10)
    assert b.queue.dropped > 0
    kinds = [e[2] for e in queued(b)]
    assert ev.DROPPED in kinds
    d = [e for e in queued(b) if e[2] == ev.DROPPED][0]
    assert d[4][0] > 0 and d[4][1] <= d[4][2]
    assert b.status()[6] & bandmod.FLAG_DROPPED


def test_run_loop_wakes_until_stopped():
    import asyncio

    b, chip, _, clock, wdt = rig(shaking(2, 2))
    calls = [0]

    def stop():
        calls[0] += 1
        chip.tick(FS)
        return calls[0] > 3

    asyncio.run(b.run(period_ms=1, stop=stop))
    assert b.wakeups == 3 and wdt.feeds == 3 and b.samples_in == 3 * FS


def test_power_cut_while_running_loses_no_queued_event():
    from anklet_fw.sim import PowerCut

    # How many bytes the whole run programs (a boot, an episode's events, minutes and statuses), uncut.
    flash = RamFlash(24, 4096)
    b, chip, _, clock, _ = rig(shaking(5, 30), flash=flash)
    base = flash.writes
    for _ in range(60):
        clock.t += 1000
        chip.tick(FS)
        b.step()
    total = flash.writes - base
    assert total > 500  # at least a dozen events
    cuts = 0
    for cut in range(0, total, 17):  # cut inside many of them
        flash = RamFlash(24, 4096)
        b, chip, _, clock, _ = rig(shaking(5, 30), flash=flash)
        written = {}
        flash.budget = cut
        try:
            for _ in range(60):
                clock.t += 1000
                chip.tick(FS)
                b.step()
                for e in queued(b):
                    written[e[0]] = e
        except PowerCut:
            cuts += 1
        flash.budget = None
        b2, _, _, _, _ = rig(shaking(1, 1), flash=flash)
        assert b2.boot_count == 2
        after = {e[0]: e for e in queued(b2, holes=1)}
        for seq, e in written.items():
            assert after.get(seq) == e, (cut, seq)
        last = after[max(after)]
        if last[2] == ev.DROPPED:  # the cut record was found damaged: reported after the BOOT event
            assert last[4][:2] == [1, max(after) - 2] and last[4][3] == 2  # one record, LOST_FLASH
            last = after[max(after) - 1]
        assert last[2] == ev.BOOT and last[1] == b2.boot_id
    assert cuts == len(range(0, total, 17))
