"""Torture with the host as a real process: 1,000 events, 22 radio losses at random points, and `python` subprocesses running the host side (Bumble device over an HCI TCP
transport to a virtual controller, bleak through the Bumble backend, BleakLink, the SQLite Store) are killed
with SIGKILL mid-stream and started again, twice, while the band's firmware radio keeps queuing events.
The controller stays in this process, as an adapter outlives the program using it; its connections are cut
when the host dies (the controller is reset by the next host on a real machine). Every event is logged
exactly once, in order."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bumble.controller import Controller
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

from anklet.bumble_band import drop_connections, make_band_ble, start_radio, supervise
from anklet.store import Store
from anklet_fw.eventq import EventQueue
from anklet_fw.flashdev import RamFlash

ROOT = Path(__file__).resolve().parents[1]
HOST = "E0:E1:E2:E3:E4:E5"
N_EVENTS = 1000
N_DROPS = 22
KILL_AT = (300, 650)

HOST_SCRIPT = r'''
import asyncio, logging, sys, time
logging.basicConfig(level=logging.ERROR)
from bumble.transport import open_transport
from anklet.link.bleak_link import BleakLink, pair_band
from anklet.link.pairing import PairingStore
from anklet.bumble_backend import BumbleCentral
from anklet.link import LinkError
from anklet.store import Store

port, band, passkey, folder = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]

print("start", round(time.time() % 100, 2), flush=True)
async def main():
    transport = await open_transport(f"tcp-client:127.0.0.1:{port}")
    central = BumbleCentral(None, "E0:E1:E2:E3:E4:E5", keystore_path=f"{folder}/host_keys.json",
                            hci=(transport.source, transport.sink))
    await central.start()
    pairings = PairingStore(f"{folder}/bands.json")
    if pairings.get(band) is None:
        await pair_band(band, passkey, pairings, client_backend=central.client_backend,
                        scanner_backend=central.scanner_backend, timeout=5)
        print("paired", flush=True)
    db = Store(f"{folder}/log.db")
    link = BleakLink(pairings.get(band), client_backend=central.client_backend,
                     scanner_backend=central.scanner_backend, scan_timeout=2, connect_timeout=1.5,
                     reply_timeout=1.5, attempts=50, backoff=(0.05, 0.3))
    while True:
        try:
            await link.connect(db.last_seq(link.band_id))
            print("connected", round(time.time() % 100, 2), flush=True)
            while True:  # as the monitor does: take a burst, commit it, then acknowledge its last event
                e = await link.next_event(0.5)
                if e is None:
                    continue
                batch = [e]
                while len(batch) < 64 and (more := await link.next_event(0)) is not None:
                    batch.append(more)
                db.add_events(link.band_id, batch, time.time())
                await link.ack(batch[-1].boot, batch[-1].seq)
        except LinkError as exc:
            print("lost", round(time.time() % 100, 2), exc, flush=True)

asyncio.run(main())
'''


def test_host_process_killed_twice_loses_and_duplicates_nothing(tmp_path):
    script = tmp_path / "host.py"
    script.write_text(HOST_SCRIPT)
    db_path = tmp_path / "log.db"
    Store(db_path).close()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "host"), str(ROOT / "firmware")]))

    def logged():
        with sqlite3.connect(db_path) as c:
            return c.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    async def main():
        from bumble.link import LocalLink

        link = LocalLink()
        sup = asyncio.get_running_loop().create_task(supervise(link, 0.4))
        ble = await make_band_ble(link)
        pair_like = type("P", (), {"band_ble": ble, "passkey": 135790})()
        q = EventQueue(RamFlash(16, 4096), boot=5)  # room for all 1000: a full queue would drop (by design)
        radio = start_radio(pair_like, q, boot=5, pairing_s=60)
        sock = socket.socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # HCI packets are small: no Nagle delay
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        transport = await open_tcp_server_transport_with_socket(sock)
        controller = Controller("host", host_source=transport.source, host_sink=transport.sink, link=link,
                                public_address=HOST)
        band = str(ble.device.random_address)
        procs = []

        def start_host():
            p = subprocess.Popen([sys.executable, str(script), str(port), band, "135790", str(tmp_path)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
            procs.append(p)
            return p

        rng = random.Random(4242)
        drops = []
        holder = type("D", (), {"controller": controller})()  # drop_connections() takes devices

        cuts_done = asyncio.Event()

        async def produce():
            for i in range(N_EVENTS):
                if i == N_EVENTS - 50:
                    await cuts_done.wait()  # the last events wait for the cuts: every cut falls mid-stream
                q.append((4, 1000 * i, i, 0, 0, 0, 0, 0, 0))
                radio.kick()
                await asyncio.sleep(rng.uniform(0, 0.01))

        async def disrupt():
            # Radio losses at random moments, each once the host is streaming again after the previous one
            # (retried while it is between connections).
            while logged() == 0:  # the host is paired and streaming
                await asyncio.sleep(0.01)
            for _ in range(N_DROPS):
                await asyncio.sleep(rng.uniform(0.02, 0.15))
                while drops and logged() <= drops[-1]:
                    await asyncio.sleep(0.005)
                while not drop_connections(ble.device, holder):
                    await asyncio.sleep(0.01)
                drops.append(logged())
            cuts_done.set()

        t0 = time.monotonic()
        host = start_host()
        prod = asyncio.get_running_loop().create_task(produce())
        dis = asyncio.get_running_loop().create_task(disrupt())
        for target in KILL_AT:
            while logged() < target:
                assert time.monotonic() - t0 < 60, f"stuck at {logged()} events"
                assert host.poll() is None, host.stdout.read().decode()
                await asyncio.sleep(0.02)
            host.send_signal(signal.SIGKILL)  # no goodbye, no flush beyond what SQLite committed
            host.wait()
            drop_connections(holder)  # the adapter is reset when the next host opens it
            host = start_host()
        await prod
        while logged() < N_EVENTS or not dis.done():
            if time.monotonic() - t0 > 60:
                host.kill()
                state = (radio._conn, radio._secure, radio._streaming, radio._mtu, radio._cursor, q.first_seq(),
                         q.next_seq(), list(ble._conns), list(ble.device.controller.le_connections),
                         list(controller.le_connections))
                raise AssertionError(f"stuck at {logged()} events, {len(drops)} drops; band {state}; host said:\n"
                                     + host.stdout.read().decode()[-3000:])
            assert host.poll() is None, host.stdout.read().decode()
            await asyncio.sleep(0.05)
        host.send_signal(signal.SIGKILL)
        host.wait()
        assert q.dropped == 0
        outputs = [p.stdout.read().decode() for p in procs]
        radio.task.cancel()
        sup.cancel()
        transport.server.close()
        return outputs, time.monotonic() - t0, drops

    outputs, elapsed, drops = asyncio.run(main())
    with sqlite3.connect(db_path) as c:
        seqs = [r[0] for r in c.execute("SELECT seq FROM events ORDER BY id")]
    print(f"subprocess hosts: {len(seqs)} events in {elapsed:.1f} s over {len(outputs)} host processes, "
          f"{len(drops)} radio losses")
    assert seqs == list(range(1, N_EVENTS + 1)), outputs
    assert len(outputs) == 3 and "paired" in outputs[0] and all("connected" in o for o in outputs)
    assert "paired" not in outputs[1] + outputs[2]  # the restarted hosts used the stored bond
    assert len(drops) == N_DROPS and sum(0 < n < N_EVENTS for n in drops) >= 20
    assert sum(o.count("lost") for o in outputs) >= 20  # the hosts noticed the losses
