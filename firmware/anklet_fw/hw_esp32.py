# The band's hardware on an ESP32: the only module that imports machine, esp32 and bluetooth.
import time

import esp32
import machine

from . import boards
from .band import (
    REASON_DEEPSLEEP,
    REASON_HARD,
    REASON_POWER_ON,
    REASON_SOFT,
    REASON_WATCHDOG,
    Band,
)
from .flashdev import FileFlash
from .imu import probe

try:
    from micropython import const
except ImportError:  # CPython (type checking only)

    def const(x):
        return x


WDT_MS = const(30000)  # the loop wakes every second; 30 s without samples means it is stuck
PAIRING_S = const(120)  # after a power-on, new bonds are accepted this long
# Files in the working directory, which is the filesystem's root when the band boots; relative
# so that the unix port's tests of this module keep them in their own folder.
QUEUE_FILE = "anklet.bin"
PASSKEY_FILE = "passkey.txt"  # the 6-digit pairing passkey: print it on the band's label
BONDS_FILE = "bonds.bin"  # bonding secrets, so a reset does not forget the parents' computer
QUEUE_FILE_BLOCKS = const(40)  # 160 KB when there is no "anklet" partition
# app.boot() drops these once the band is built: nothing here runs again before a reset.
BOOT_ONLY = ("hw_esp32", "boards")


def reset_reason():
    return {
        machine.PWRON_RESET: REASON_POWER_ON,
        machine.HARD_RESET: REASON_HARD,
        machine.WDT_RESET: REASON_WATCHDOG,
        machine.DEEPSLEEP_RESET: REASON_DEEPSLEEP,
        machine.SOFT_RESET: REASON_SOFT,
    }.get(machine.reset_cause(), 0)


def flash():
    """The data partition labelled "anklet" if the partition table has one, else a file on the filesystem."""
    found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="anklet")
    if found:
        return found[0]
    return FileFlash(QUEUE_FILE, QUEUE_FILE_BLOCKS)


def build(board=None):
    b = boards.get(board)
    wdt = machine.WDT(timeout=WDT_MS)  # first, so a hang while starting up resets too
    reason = reset_reason()
    i2c = machine.I2C(b["i2c_id"], scl=machine.Pin(b["scl"]), sda=machine.Pin(b["sda"]), freq=b["i2c_freq"])
    imu = probe(i2c, b["imu_addr"], b["imu"])
    adc = None
    if b["bat_adc"] is not None:
        adc = machine.ADC(machine.Pin(b["bat_adc"]), atten=machine.ADC.ATTN_11DB)
    band = Band(imu, flash(), time, adc=adc, bat_div=(b["bat_div_num"], b["bat_div_den"]), wdt=wdt,
                reset_reason=reason)
    flag = None
    if b["imu_int1"] is not None:
        import asyncio

        flag = asyncio.ThreadSafeFlag()
        pin = machine.Pin(b["imu_int1"], machine.Pin.IN)
        pin.irq(lambda _p: flag.set(), trigger=machine.Pin.IRQ_RISING)
    radio = None
    try:
        import bluetooth

        from .radio import Bonds, Radio, load_passkey

        has_ble = True
    except ImportError:  # a build without Bluetooth: the band still records to flash
        has_ble = False
    if has_ble:
        uid = int.from_bytes(machine.unique_id()[-6:], "big")
        radio = Radio(bluetooth.BLE(), band.queue, band.boot_id, name=f"anklet-{uid & 0xFFFF:04x}",
                      passkey=load_passkey(PASSKEY_FILE), uid=uid, bonds=Bonds(BONDS_FILE), status=band.radio_status,
                      on_setting=band.on_setting,
                      fs=band.settings["fs"], range_g=band.settings["range_g"])
        if reason == REASON_POWER_ON:
            radio.set_pairing(PAIRING_S)
        band.radio = radio
    return band, flag, 1000, radio
