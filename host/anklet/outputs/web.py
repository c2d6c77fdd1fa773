"""A page for a bedside phone or tablet on the home Wi-Fi, served from the monitor's own asyncio loop.

Starlette + uvicorn on the monitor's loop (no thread, no second process): if the monitor's loop stops, the page
stops hearing from it, and the page itself raises a FAULT with sound after 10 s of silence (monitor crashed, host
asleep, Wi-Fi lost). The page gets the board over server-sent events: a `state` event whenever an alarm changes and
at most a few times a second otherwise, and a `beat` event every `BEAT_S` seconds when there is nothing new.

Every route sits under a random token (`/<token>/...`); anything else is 403. The token is made once and kept in
anklet's data folder (`web-token`), so a phone's bookmark survives a restart; `outputs.web.token` sets one.

Routes: `/` the page, `events` the stream, `ack` and `mute` (POST: acknowledge through the monitor, recorded with
who), `alarm.wav`, `triage/<episode>` (GET the questions, POST the answers: the triage engine evaluates and the
answers are saved with the episode).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import json
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from ..statusview import clock_text, duration_text
from .base import BoardState, OutputControl, OutputError

BEAT_S = 2.0  # real seconds between heartbeats when nothing else is sent
SILENCE_S = 10  # the page raises a FAULT when it hears nothing for this long
MIN_GAP_S = 0.5  # real seconds between two states that differ only in numbers (the demo runs 200x)
MUTE_S = 15 * 60  # the Mute button: acknowledge and mute for this long
TOKEN_FILE = "web-token"


def load_token(data_dir: str | Path | None) -> str:
    """The page's token: made once (random, 128 bits), kept in the data folder, readable by the user only."""
    if data_dir is None:
        from ..config import data_dir as default_data_dir

        data_dir = default_data_dir()
    path = Path(data_dir) / TOKEN_FILE
    with contextlib.suppress(OSError):
        tok = path.read_text().strip()
        if len(tok) >= 16:
            return tok
    tok = secrets.token_urlsafe(16)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(tok + "\n")
    except OSError:
        pass  # a token for this run only: the printed address still works until the monitor restarts
    return tok


def lan_address() -> str:
    """This computer's address on the home network, as a phone would reach it (no packet is sent)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
        return str(s.getsockname()[0])
    except OSError:
        return socket.gethostname()
    finally:
        s.close()


def state_json(state: BoardState) -> dict[str, Any]:
    """The board for the page, with the times already in words (the host's clock and language)."""
    d = dataclasses.asdict(state)
    d["sounding"] = state.sounding
    for a in d["alarms"] + d["recent"]:
        a["at"] = clock_text(a["since"])
        a["for"] = duration_text(max(0.0, state.now - a["since"]))
    d["clock"] = clock_text(state.now)
    d["muted_text"] = duration_text(state.muted_s) if state.muted_s else ""
    d["silent_text"] = duration_text(state.silent_s) if state.silent_s is not None else ""
    return d


def _signature(state: BoardState) -> tuple[Any, ...]:
    """What must reach the page at once when it changes."""
    return (tuple((a.key, a.level, a.acked) for a in state.alarms), state.link, state.episode_id, state.triage_done,
            state.last_ack, bool(state.episode))


class _Client:
    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.sent_sig: tuple[Any, ...] | None = None
        self.sent_at = 0.0


class WebOutput:
    name = "web"

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, *, token: str | None = None,
                 say: Callable[[str], None] | None = None, data_dir: str | Path | None = None,
                 qr: bool = True) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.say = say or print
        self.data_dir = data_dir
        self.qr = qr
        self.control: OutputControl | None = None
        self.state: BoardState | None = None
        self._json: str | None = None
        self._sig: tuple[Any, ...] | None = None
        self._clients: set[_Client] = set()
        self._closing = False
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self.url = ""
        self.requests: list[str] = []  # what the page asked of the monitor, for the terminal and the tests

    # -- the output contract -----------------------------------------------------------------------

    async def start(self, control: OutputControl) -> None:
        import uvicorn

        self.control = control
        if not self.token:
            self.token = load_token(self.data_dir)
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(16)
        except OSError as exc:
            sock.close()
            raise OutputError(f"cannot serve the page on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        # log_config=None: uvicorn must not reconfigure the process's logging (the monitor's own is left alone).
        config = uvicorn.Config(self.app(), log_level="warning", log_config=None, lifespan="off", access_log=False,
                                timeout_graceful_shutdown=2)
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(200):  # until it accepts connections (a few ms)
            if self._server.started or self._task.done():
                break
            await asyncio.sleep(0.01)
        if self._task.done():
            raise OutputError(f"the page's server stopped at once: {self._task.exception()}")
        everywhere = self.host in ("0.0.0.0", "::", "")
        shown = lan_address() if everywhere else self.host
        self.url = f"http://{shown}:{self.port}/{self.token}/"
        local = self.host.startswith("127.") or self.host in ("::1", "localhost")
        where = "in a browser on this computer only" if local else "on a phone on the same Wi-Fi"
        self.say(f"bedside page: open {self.url} {where} (keep the address secret)")
        if self.qr:
            self.say(qr_text(self.url))

    async def publish(self, state: BoardState) -> None:
        if self._task is not None and self._task.done():
            raise OutputError("the page's server has stopped")
        self.state = state
        self._json = json.dumps(state_json(state))
        self._sig = _signature(state)
        for c in self._clients:
            c.wake.set()

    async def close(self) -> None:
        self._closing = True
        for c in self._clients:
            c.wake.set()
        await asyncio.sleep(0.1)  # the streams say "stopped" and end
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5.0)

    # -- the web app ---------------------------------------------------------------------------------

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.responses import (
            FileResponse,
            JSONResponse,
            PlainTextResponse,
            RedirectResponse,
            Response,
        )
        from starlette.routing import Route

        from ..alerts import sound_file

        def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
            async def inner(request: Any) -> Any:
                if not hmac.compare_digest(str(request.path_params.get("token", "")).encode(), str(self.token).encode()):
                    return PlainTextResponse("forbidden: this address needs the secret shown by anklet monitor\n", 403)
                return await fn(request)

            return inner

        def who(request: Any, body: dict[str, Any]) -> str:
            name = str(body.get("by") or "").strip()[:40]
            peer = request.client.host if request.client else "?"
            return f"web page ({name + ', ' if name else ''}{peer})"

        async def body_of(request: Any) -> dict[str, Any]:
            try:
                data = await request.json()
            except ValueError:
                return {}
            return data if isinstance(data, dict) else {}

        @guard
        async def page(request: Any) -> Response:
            html = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
            html = html.replace("__SILENCE_S__", str(SILENCE_S)).replace("__MUTE_MIN__", str(MUTE_S // 60))
            return Response(html, media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

        @guard
        async def bare(request: Any) -> Response:
            return RedirectResponse(f"/{self.token}/")

        @guard
        async def events(request: Any) -> Response:
            from starlette.responses import StreamingResponse

            return StreamingResponse(self._stream(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

        async def acknowledge(request: Any, mute_s: float | None) -> Response:
            body = await body_of(request)
            by = who(request, body)
            assert self.control is not None
            n = self.control.acknowledge(by, mute_s)
            self.requests.append(f"{'mute' if mute_s else 'ack'} {by}")
            return JSONResponse({"acknowledged": n, "by": by})

        @guard
        async def ack(request: Any) -> Response:
            return await acknowledge(request, None)

        @guard
        async def mute(request: Any) -> Response:
            return await acknowledge(request, MUTE_S)

        @guard
        async def sound(request: Any) -> Response:
            return FileResponse(sound_file(), media_type="audio/wav")

        @guard
        async def triage(request: Any) -> Response:
            from ..triage.schema import TriageInputError

            assert self.control is not None
            try:
                episode = int(request.path_params["episode"])
                if request.method == "GET":
                    return JSONResponse(self.control.triage_form(episode))
                body = await body_of(request)
                result = self.control.save_triage(episode, dict(body.get("answers") or {}), who(request, body))
            except KeyError as exc:
                return JSONResponse({"error": str(exc).strip("'\"")}, 404)
            except (TriageInputError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
            self.requests.append(f"triage {episode}")
            return JSONResponse(result)

        async def forbidden(request: Any) -> Response:
            return PlainTextResponse("forbidden: this address needs the secret shown by anklet monitor\n", 403)

        routes = [
            Route("/{token}", bare),
            Route("/{token}/", page),
            Route("/{token}/events", events),
            Route("/{token}/ack", ack, methods=["POST"]),
            Route("/{token}/mute", mute, methods=["POST"]),
            Route("/{token}/alarm.wav", sound),
            Route("/{token}/triage/{episode}", triage, methods=["GET", "POST"]),
            Route("/{rest:path}", forbidden, methods=["GET", "POST", "HEAD", "PUT", "DELETE"]),
        ]
        return Starlette(routes=routes)

    async def _stream(self) -> AsyncIterator[str]:
        c = _Client()
        self._clients.add(c)
        try:
            yield f"retry: 2000\nevent: hello\ndata: {json.dumps({'silence_s': SILENCE_S})}\n\n"
            while True:
                if self._closing:
                    yield "event: stopped\ndata: {}\n\n"
                    return
                if self._json is not None and (c.sent_sig is None or c.wake.is_set()):
                    c.wake.clear()
                    urgent = c.sent_sig != self._sig
                    wait = c.sent_at + MIN_GAP_S - time.monotonic()
                    if not urgent and wait > 0:
                        await asyncio.sleep(wait)  # numbers only: at most a few a second (the demo runs 200x)
                    c.sent_sig, c.sent_at = self._sig, time.monotonic()
                    yield f"event: state\ndata: {self._json}\n\n"
                    continue
                try:
                    await asyncio.wait_for(c.wake.wait(), BEAT_S)
                except asyncio.TimeoutError:
                    yield f"event: beat\ndata: {time.time():.1f}\n\n"
        finally:
            self._clients.discard(c)


def qr_text(url: str) -> str:
    """The address as a QR code in the terminal (to open it with a phone's camera)."""
    import io

    import segno

    buf = io.StringIO()
    segno.make(url, error="m").terminal(out=buf, compact=True, border=2)
    return buf.getvalue().rstrip("\n")


class _Server:
    """uvicorn's server without its signal handling: the monitor owns Ctrl-C and SIGTERM."""

    def __new__(cls, config: Any) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

            def install_signal_handlers(self) -> None:  # older uvicorn
                pass

        return Server(config)
