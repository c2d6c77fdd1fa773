# Stand-in for the ESP32's `machine` module, so hw_esp32.build() runs on the unix port.
# The I2C bus carries a register-level fake LSM6 from a second copy of the firmware's
# sim.py (package `fakefw`), so the band's own modules are loaded fresh and counted.
from array import array

from fakefw.sim import ArraySource, FakeI2C, FakeLSM6

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

CHIP = FakeLSM6(ArraySource(array("h")))


def reset_cause():
    return PWRON_RESET


def unique_id():
    return b"\x24\x0a\xc4\xa1\x1e\x7b"


class WDT:
    def __init__(self, timeout=0):
        self.timeout = timeout
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class Pin:
    IN = 1
    IRQ_RISING = 1

    def __init__(self, pin, mode=None):
        self.pin = pin
        self.handler = None

    def irq(self, handler=None, trigger=0):
        self.handler = handler


def I2C(bus_id, scl=None, sda=None, freq=400000):  # noqa: N802  (the machine API's name)
    return FakeI2C(CHIP)


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin, atten=0):
        self.pin = pin

    def read_uv(self):
        return 1950000  # behind a 1:2 divider: 3.9 V
