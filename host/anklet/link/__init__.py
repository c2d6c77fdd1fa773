"""How events cross the air: the contract every link keeps, and the Bluetooth link to a real band.

- contract.py: `BandLink` (connect, next_event, ack, status), `BandStatus`, `Gap`, `LinkError` and `LinkLost`:
  what the monitor asks of any link (the Bluetooth one here, the in-process one of the demo and the tests)
- bleak_link.py: `BleakLink` over bleak (connect through bleak-retry-connector), scanning and `pair_band`
- pairing.py: `PairingStore`, the paired bands this host talks to (a JSON file readable by its owner only)

May touch: the firmware's contract (anklet_fw.packet_host, the radio's UUIDs) and `anklet.records`; never the
monitor, the log or a terminal.
"""

from __future__ import annotations

from .contract import BandLink, BandStatus, Gap, LinkError, LinkLost

__all__ = ["BandLink", "BandStatus", "Gap", "LinkError", "LinkLost"]
