"""The firmware version crosses from band to host through one pack/unpack pair in the contract: the bytes the
band's own code packs under MicroPython read as the version the firmware declares, on the status frame and in the
BOOT event, and the in-process band says the same."""

from __future__ import annotations

import asyncio

import numpy as np
from conftest import run_mp

import anklet_fw
from anklet.ble import status_from_frame
from anklet.inproc import FirmwareBand, InprocLink
from anklet.monitor import VirtualClock
from anklet_fw import band as fwband
from anklet_fw.packet_host import version_text

BAND_FRAME = """
import anklet_fw.packet as packet
from anklet_fw import band
buf = bytearray(packet.STATUS_SIZE)
packet.encode_status_into(buf, (packet.SF_WORN, 3900, 80, 0, 5, 100, 7, band.FW_VERSION, 1, 6, 0, 0x0123456789AB))
print(bytes(buf).hex())
"""


def test_band_bytes_read_as_the_declared_version():
    declared = ".".join(str(n) for n in anklet_fw.VERSION)
    frame = bytes.fromhex(run_mp(BAND_FRAME).strip())  # packed by the band's code on MicroPython
    status, raw = status_from_frame(frame)
    assert status.fw_version == declared == "0.1.0"
    assert raw["fw_version"] == 0x000100  # 0x00MMmmpp, as docs/protocol.md says
    assert version_text(fwband.FW_VERSION) == declared
    assert version_text((12 << 16) | (34 << 8) | 56) == "12.34.56"


def test_the_in_process_band_reports_the_same_version():
    band = FirmwareBand(np.tile(np.array([[0, 0, 4096]], dtype=np.int16), (52 * 3, 1)), clock=VirtualClock(0), start=0)
    link = InprocLink(band, "band-test")

    async def main():
        await link.connect(None)
        return await link.status()

    assert asyncio.run(main()).fw_version == ".".join(str(n) for n in anklet_fw.VERSION)
