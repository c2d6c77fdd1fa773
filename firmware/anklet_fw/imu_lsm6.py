# ST LSM6DS3TR-C and LSM6DSO accelerometers (the gyroscope stays off).
#
#   imu = LSM6(i2c, 0x6A)        # reads WHO_AM_I: 0x6A LSM6DS3TR-C, 0x6C LSM6DSO
#   imu.configure(52, 8)         # 52 Hz, +-8 g, FIFO continuous, INT1 at one second of samples
#   n = imu.read(buf)
#
# The two chips share the control registers but not the FIFO: the DS3TR-C
# stores 16-bit words (x, y, z) read through FIFO_DATA_OUT_L/H, the DSO stores
# tagged 7-byte words read from FIFO_DATA_OUT_TAG. A multi-byte read of either
# output register rolls back to its start (AN4650, AN5192), so one transaction
# drains many samples. On overrun the FIFO (continuous mode overwrites the oldest
# word, so word alignment is lost) is counted, emptied and restarted.
from .imu import CHUNK, ImuBase, ImuError, s16le

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_WHO_AM_I = const(0x0F)
_CTRL1_XL = const(0x10)
_CTRL2_G = const(0x11)
_CTRL3_C = const(0x12)
_INT1_CTRL = const(0x0D)
_FIFO_STATUS1 = const(0x3A)
ID_DS3TRC = const(0x6A)
ID_DSO = const(0x6C)
# LSM6DS3TR-C FIFO
_D_FIFO_CTRL1 = const(0x06)
_D_FIFO_CTRL2 = const(0x07)
_D_FIFO_CTRL3 = const(0x08)
_D_FIFO_CTRL5 = const(0x0A)
_D_FIFO_OUT = const(0x3E)
# LSM6DSO FIFO
_O_FIFO_CTRL1 = const(0x07)
_O_FIFO_CTRL2 = const(0x08)
_O_FIFO_CTRL3 = const(0x09)
_O_FIFO_CTRL4 = const(0x0A)
_O_FIFO_OUT = const(0x78)
_TAG_XL = const(0x02)

_SW_RESET = const(0x01)
_BDU_IFINC = const(0x44)
_MODE_CONT = const(0x06)
_INT1_FTH = const(0x08)

_ODR = {13: 1, 26: 2, 52: 3, 104: 4}  # ODR code; 13 stands for 12.5 Hz and is not offered
_FS = {2: 0, 16: 1, 4: 2, 8: 3}


class LSM6(ImuBase):
    PART = "LSM6DS3TR-C/LSM6DSO"
    RATES = (26, 52, 104)

    def __init__(self, i2c, addr=0x6A, retries=3):
        who = 0
        try:
            self.FRAME = 7  # sized for the DSO's tagged words; the DS3TR-C uses 6 of each 7
            super().__init__(i2c, addr, retries)
            who = self._reg(_WHO_AM_I)
        except ImuError as exc:
            raise ImuError(f"no LSM6 answers at 0x{addr:02x}: {exc}") from exc
        if who not in (ID_DS3TRC, ID_DSO):
            raise ImuError("chip at 0x{:02x} is not an LSM6DS3TR-C or LSM6DSO: WHO_AM_I 0x{:02x}".format(addr, who))
        self.dso = who == ID_DSO
        self.PART = "LSM6DSO" if self.dso else "LSM6DS3TR-C"
        self.chip_id = who
        self._chunk_ds3 = memoryview(self._chunk)[: 6 * CHUNK]
        self._one_ds3 = memoryview(self._one)[:6]

    def configure(self, fs=52, range_g=8):
        self._check_config(fs, range_g)
        self._set(_CTRL3_C, _SW_RESET)
        self._wait_clear(_CTRL3_C, _SW_RESET, "software reset")
        self._set(_CTRL3_C, _BDU_IFINC)
        self._set(_CTRL2_G, 0)
        self._set(_CTRL1_XL, (_ODR[fs] << 4) | (_FS[range_g] << 2))
        self.fs = fs
        self.range_g = range_g
        if self.dso:
            self._set(_O_FIFO_CTRL1, fs & 0xFF)  # threshold in words: one per sample
            self._set(_O_FIFO_CTRL2, (fs >> 8) & 1)
        else:
            words = 3 * fs
            self._set(_D_FIFO_CTRL1, words & 0xFF)
            self._set(_D_FIFO_CTRL2, (words >> 8) & 7)
            self._set(_D_FIFO_CTRL3, 0x01)  # accelerometer in the FIFO, no decimation; gyro out
        self._set(_INT1_CTRL, _INT1_FTH)
        self._fifo_restart()

    def _fifo_restart(self):
        odr = _ODR[self.fs]
        if self.dso:
            self._set(_O_FIFO_CTRL4, 0)  # bypass empties it
            self._set(_O_FIFO_CTRL3, odr)  # accelerometer batch rate
            self._set(_O_FIFO_CTRL4, _MODE_CONT)
        else:
            self._set(_D_FIFO_CTRL5, 0)
            self._set(_D_FIFO_CTRL5, (odr << 3) | _MODE_CONT)

    def read(self, buf):
        st = self._b2
        self._read_mem(_FIFO_STATUS1, st)
        if self.dso:
            words = st[0] | ((st[1] & 0x03) << 8)
            over = st[1] & 0x40
        else:
            words = st[0] | ((st[1] & 0x07) << 8)
            over = st[1] & 0x40
        if over:
            self.overflows += 1
            self._fifo_restart()
            return 0
        if self.dso:
            return self._read_dso(buf, words)
        return self._read_ds3(buf, words // 3)

    def _read_ds3(self, buf, avail):
        room = len(buf) // 3
        n = avail if avail < room else room
        done = 0
        chunk = self._chunk
        while done < n:
            k = n - done
            if k >= CHUNK:
                k = CHUNK
                self._read_mem(_D_FIFO_OUT, self._chunk_ds3)
                src = chunk
            else:
                src = self._one
                k = 1
                self._read_mem(_D_FIFO_OUT, self._one_ds3)
            j = 3 * done
            for i in range(0, 6 * k, 2):
                buf[j] = s16le(src, i)
                j += 1
            done += k
        return n

    def _read_dso(self, buf, words):
        # Tagged words: skip anything that is not an accelerometer sample.
        room = len(buf) // 3
        n = 0
        one = self._one
        while words > 0 and n < room:
            self._read_mem(_O_FIFO_OUT, one)
            words -= 1
            if one[0] >> 3 != _TAG_XL:
                continue
            j = 3 * n
            buf[j] = s16le(one, 1)
            buf[j + 1] = s16le(one, 3)
            buf[j + 2] = s16le(one, 5)
            n += 1
        return n
