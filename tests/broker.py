"""A real mosquitto on loopback for the MQTT tests (no tests here), and a subscriber that keeps what it hears."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """mosquitto started by the test on a free loopback port, with a config of the test's choosing."""

    def __init__(self, workdir: Path, port: int | None = None, extra: str = "", anonymous: bool = True) -> None:
        exe = mosquitto_path()
        if exe is None:
            pytest.skip("mosquitto is not installed (make sysdeps installs it: apt-get install mosquitto)")
        self.exe = exe
        self.port = port or free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / f"mosquitto-{self.port}.conf"
        # As root, mosquitto would switch to its own user, who cannot read the test's private folders.
        stay = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous {'true' if anonymous else 'false'}\n"
                             f"persistence false\n{stay}{extra}")
        self.log = self.dir / f"mosquitto-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=self.log.open("wb"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto stopped at once: {self.log.read_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Heard:
    topic: str
    payload: str
    retain: bool
    at: float  # real time

    def json(self):
        return json.loads(self.payload)


class Listener:
    """A client of the test's own that subscribes to everything and keeps what it hears, in order."""

    def __init__(self, port: int, topics=("#",), **client_kw) -> None:
        self.port = port
        self.topics = topics
        self.client_kw = client_kw
        self.heard: list[Heard] = []
        self._task: asyncio.Task | None = None
        self._new = asyncio.Event()
        self._ready = asyncio.Event()
        self.client = None

    async def __aenter__(self) -> Listener:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    async def _run(self) -> None:
        import aiomqtt

        async with aiomqtt.Client("127.0.0.1", self.port, **self.client_kw) as client:
            self.client = client
            for t in self.topics:
                await client.subscribe(t, qos=1)
            self._ready.set()
            async for m in client.messages:
                payload = m.payload.decode() if isinstance(m.payload, (bytes, bytearray)) else str(m.payload)
                self.heard.append(Heard(str(m.topic), payload, bool(m.retain), time.monotonic()))
                self._new.set()

    async def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        await self.client.publish(topic, payload, qos=1, retain=retain)

    def on(self, topic: str) -> list[Heard]:
        return [h for h in self.heard if h.topic == topic]

    async def wait_for(self, pred, timeout: float = 15.0, tick=None) -> Heard:
        """The first message (already heard or coming) for which pred is true; tick() is called while waiting."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for h in self.heard[seen:]:
                if pred(h):
                    return h
            seen = len(self.heard)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"not heard in {timeout} s; heard: {[(h.topic, h.payload[:60]) for h in self.heard[-15:]]}")
            self._new.clear()
            if tick is not None:
                tick()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._new.wait(), min(left, 0.1 if tick else left))
