# InvenSense MPU6886 (M5Stack devices): accelerometer through the FIFO, gyroscope in standby.
#
#   imu = MPU6886(i2c, 0x68)     # WHO_AM_I 0x19
#   imu.configure(50, 8)
#   n = imu.read(buf)
#
# The sample rate is 1 kHz / (1 + SMPLRT_DIV). With only the accelerometer
# enabled each FIFO frame is 8 bytes, big-endian: x, y, z, then temperature. The
# FIFO (1 KB, 128 frames) is set to stop when full, so its frames stay aligned;
# FIFO_OFLOW_INT reports the overflow, which is counted, and the FIFO is reset.
from .imu import CHUNK, ImuBase, ImuError, s16be

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)
_ACCEL_CONFIG = const(0x1C)
_ACCEL_CONFIG2 = const(0x1D)
_FIFO_EN = const(0x23)
_INT_ENABLE = const(0x38)
_INT_STATUS = const(0x3A)
_USER_CTRL = const(0x6A)
_PWR_MGMT_1 = const(0x6B)
_PWR_MGMT_2 = const(0x6C)
_FIFO_COUNTH = const(0x72)
_FIFO_R_W = const(0x74)
_WHO_AM_I = const(0x75)
CHIP_ID = const(0x19)

_RESET = const(0x80)
_CLK_AUTO = const(0x01)
_GYRO_STBY = const(0x07)
_FIFO_STOP_WHEN_FULL = const(0x40)
_DLPF_176HZ = const(0x01)  # gyro DLPF setting that makes the internal rate 1 kHz
_A_DLPF_21HZ = const(0x04)
_ACCEL_FIFO_EN = const(0x08)
_FIFO_OFLOW = const(0x10)
_USER_FIFO_EN = const(0x40)
_USER_FIFO_RST = const(0x04)
_FRAME = const(8)


class MPU6886(ImuBase):
    PART = "MPU6886"
    RATES = (25, 50, 100)
    FRAME = _FRAME

    def __init__(self, i2c, addr=0x68, retries=3):
        super().__init__(i2c, addr, retries)
        try:
            who = self._reg(_WHO_AM_I)
        except ImuError as exc:
            raise ImuError(f"no MPU6886 answers at 0x{addr:02x}: {exc}") from exc
        if who != CHIP_ID:
            raise ImuError("chip at 0x{:02x} is not an MPU6886: WHO_AM_I 0x{:02x}".format(addr, who))
        self.chip_id = who
        self._one_frame = memoryview(self._one)[:_FRAME]

    def configure(self, fs=50, range_g=8):
        self._check_config(fs, range_g)
        self._set(_PWR_MGMT_1, _RESET)
        self._wait_clear(_PWR_MGMT_1, _RESET, "device reset")
        self._set(_PWR_MGMT_1, _CLK_AUTO)
        self._set(_PWR_MGMT_2, _GYRO_STBY)
        self._set(_CONFIG, _FIFO_STOP_WHEN_FULL | _DLPF_176HZ)
        self._set(_SMPLRT_DIV, 1000 // fs - 1)
        self._set(_ACCEL_CONFIG, {2: 0, 4: 1, 8: 2, 16: 3}[range_g] << 3)
        self._set(_ACCEL_CONFIG2, _A_DLPF_21HZ)
        self._set(_INT_ENABLE, _FIFO_OFLOW)
        self.fs = fs
        self.range_g = range_g
        self._fifo_restart()

    def _fifo_restart(self):
        self._set(_FIFO_EN, 0)
        self._set(_USER_CTRL, _USER_FIFO_RST)
        self._set(_USER_CTRL, _USER_FIFO_EN)
        self._set(_FIFO_EN, _ACCEL_FIFO_EN)

    def read(self, buf):
        if self._reg(_INT_STATUS) & _FIFO_OFLOW:
            self.overflows += 1
            self._fifo_restart()
            return 0
        st = self._b2
        self._read_mem(_FIFO_COUNTH, st)
        avail = (((st[0] & 0x1F) << 8) | st[1]) // _FRAME
        room = len(buf) // 3
        n = avail if avail < room else room
        done = 0
        while done < n:
            k = n - done
            if k >= CHUNK:
                k = CHUNK
                src = self._chunk
                self._read_mem(_FIFO_R_W, src)
            else:
                k = 1
                src = self._one
                self._read_mem(_FIFO_R_W, self._one_frame)
            j = 3 * done
            for i in range(0, _FRAME * k, _FRAME):
                buf[j] = s16be(src, i)
                buf[j + 1] = s16be(src, i + 2)
                buf[j + 2] = s16be(src, i + 4)
                j += 3
            done += k
        return n
