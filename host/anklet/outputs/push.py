"""Push notifications to the parents' phones: ntfy (a plain HTTP POST) and Apprise URLs (Telegram, Signal, Pushover,
SMS gateways, e-mail, ...).

A push is one notification, not a ringing alarm: every loud alarm (ALARM, ESCALATION, FAULT) that is not yet
acknowledged is pushed at once and again every `repeat_s` seconds of the monitor's clock until someone acknowledges
it (at the bedside, on the page, over MQTT); a level that rises (ALARM -> ESCALATION) is pushed at once. After an
acknowledgement one more push says who acknowledged, so the other parent knows someone is there.

A push that is refused (an HTTP error, a server that cannot be reached, an Apprise URL that fails) makes `publish`
raise OutputError: the monitor raises a FAULT `output_push` and keeps watching. What was not delivered is tried again
(at most every RETRY_S seconds) and the FAULT ends when a push gets through.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..statusview import clock_text, duration_text
from .base import AlarmItem, BoardState, OutputControl, OutputError

RETRY_S = 10.0  # seconds (the monitor's monotonic clock) between two attempts while pushes are refused
TIMEOUT_S = 8.0  # real seconds for one push (the hub gives a publish 10 s)
PRIORITY = {"escalation": "urgent", "alarm": "urgent", "fault": "high"}
TAGS = {"escalation": "rotating_light", "alarm": "rotating_light", "fault": "warning", "ack": "white_check_mark"}


@dataclass(frozen=True)
class Push:
    kind: str  # alarm | escalation | fault | ack
    title: str
    body: str
    at: float  # monitor clock, when it was decided


def _ascii(text: str) -> str:
    """HTTP headers carry Latin-1 at best: the title in plain ASCII (the body is UTF-8)."""
    return text.encode("ascii", "replace").decode("ascii")


class PushOutput:
    name = "push"

    def __init__(self, ntfy: str | None = None, *, ntfy_token: str | None = None, apprise: Sequence[str] = (),
                 repeat_s: float = 60.0, ack_url: str | None = None, say: Callable[[str], None] | None = None) -> None:
        self.ntfy = ntfy or None
        self.ntfy_token = ntfy_token or None
        self.ack_url = ack_url or None  # the bedside page's acknowledge address: an Acknowledge button on ntfy pushes
        self.apprise_urls = list(apprise)
        self.repeat_s = repeat_s
        self.say = say or print
        self.sent: list[Push] = []  # every push delivered, for the terminal and the tests
        self.band = ""
        self._apprise: Any = None
        self._pushed: dict[str, tuple[float, str]] = {}  # alarm key -> (monotonic time of the last push, level)
        self._seen_ack = ""  # the board's last acknowledgement already told
        self._failing: str | None = None
        self._retry_at = 0.0

    async def start(self, control: OutputControl) -> None:
        self.band = control.band
        if not self.ntfy and not self.apprise_urls:
            raise OutputError("no ntfy topic and no Apprise URL: set outputs.push.ntfy or outputs.push.apprise")
        if self.ntfy and not self.ntfy.startswith(("http://", "https://")):
            raise OutputError(f"outputs.push.ntfy must be an http(s) URL of a topic, got {self.ntfy!r}")
        if self.ack_url and (not self.ack_url.startswith(("http://", "https://")) or any(c in self.ack_url for c in ",; ")):
            raise OutputError("outputs.push.ack_url must be the bedside page's address followed by ack, "
                              "for example http://192.168.1.20:8765/TOKEN/ack")
        if self.apprise_urls:
            try:
                import apprise
            except ImportError as exc:
                raise OutputError(f"Apprise is not installed ({exc}): pip install 'anklet[push]'") from exc
            self._apprise = apprise.Apprise()
            for n, url in enumerate(self.apprise_urls, 1):
                if not self._apprise.add(url):
                    # The URL holds a secret (a bot token, a password): say which one, not what it is.
                    raise OutputError(f"Apprise does not understand URL number {n} in outputs.push.apprise")
        where = ", ".join(([self.ntfy.split("?")[0]] if self.ntfy else []) +
                          ([f"{len(self.apprise_urls)} Apprise URL(s)"] if self.apprise_urls else []))
        self.say(f"push: alarms go to {where}, again every {duration_text(self.repeat_s)} until acknowledged")

    async def publish(self, state: BoardState) -> None:
        mono = state.now if state.mono is None else state.mono
        due = self.due(state)
        if self._failing is not None and (not due or mono < self._retry_at):
            # Not retried yet, or nothing to retry with (the FAULT acknowledged): the channel is still broken as far
            # as anyone knows, so the FAULT stays until a push gets through.
            raise OutputError(self._failing)
        if not due:
            return
        for push, keys, level in due:
            try:
                await self._deliver(push)
            except OutputError as exc:
                self._failing = str(exc)
                self._retry_at = mono + RETRY_S
                raise
            self._failing = None
            self.sent.append(push)
            for key in keys:
                if push.kind == "ack":
                    self._pushed.pop(key, None)
                    self._seen_ack = state.last_ack
                else:
                    self._pushed[key] = (mono, level)

    async def close(self) -> None:
        return None

    # -- what to push ----------------------------------------------------------------------------------

    def due(self, state: BoardState) -> list[tuple[Push, tuple[str, ...], str]]:
        """What to push now: (push, the alarm keys it is about, their level)."""
        out: list[tuple[Push, tuple[str, ...], str]] = []
        mono = state.now if state.mono is None else state.mono
        current = {a.key: a for a in state.alarms}
        done = tuple(k for k in self._pushed if k not in current or current[k].acked)
        if done and state.last_ack and state.last_ack != self._seen_ack:
            # Acknowledged (an alarm whose episode is over leaves the board at once): say who, once.
            what = "; ".join(current[k].message for k in done if k in current) or "the alarm"
            out.append((Push("ack", _ascii(f"anklet {state.band}: acknowledged"),
                             f"Acknowledged at {state.last_ack}: {what}", state.now), done, ""))
        else:
            for k in done:  # ended before anyone acknowledged: it was pushed, nothing more to say
                del self._pushed[k]
        for a in state.alarms:
            if not a.loud or a.acked or a.level not in PRIORITY:
                continue
            last = self._pushed.get(a.key)
            if last is None or last[1] != a.level or mono - last[0] >= self.repeat_s:
                out.append((self._alarm_push(state, a, repeat=last is not None and last[1] == a.level), (a.key,),
                            a.level))
        return out

    def _alarm_push(self, state: BoardState, a: AlarmItem, repeat: bool) -> Push:
        again = f" (still, {duration_text(state.now - a.since)})" if repeat else ""
        title = _ascii(f"anklet {state.band}: {a.level.upper()}{again}")
        body = f"{a.message}\nsince {clock_text(a.since)}. Acknowledge at the monitor, on the bedside page or in Home " \
               "Assistant to stop these pushes."
        return Push(a.level, title, body, state.now)

    # -- delivering ------------------------------------------------------------------------------------

    async def _deliver(self, push: Push) -> None:
        if self.ntfy:
            await asyncio.to_thread(self._ntfy, push)
        if self._apprise is not None:
            import apprise

            kind = apprise.NotifyType.SUCCESS if push.kind == "ack" else apprise.NotifyType.FAILURE
            try:
                ok = await self._apprise.async_notify(body=push.body, title=push.title, notify_type=kind)
            except Exception as exc:  # a plugin's own error
                raise OutputError(f"Apprise: {type(exc).__name__}: {exc}") from exc
            if not ok:
                raise OutputError("Apprise could not deliver the push to every URL in outputs.push.apprise")

    def _ntfy(self, push: Push) -> None:
        assert self.ntfy is not None
        headers = {"Title": push.title, "Priority": PRIORITY.get(push.kind, "default"), "Tags": TAGS[push.kind]}
        if self.ntfy_token:
            headers["Authorization"] = f"Bearer {self.ntfy_token}"
        if self.ack_url and push.kind != "ack":
            # ntfy's "http" action: the phone itself POSTs to the page when the button is pressed (so it works
            # where the phone reaches the page: on the home Wi-Fi). The page records it as "web page (ntfy, <ip>)".
            headers["Actions"] = (f"http, Acknowledge, {self.ack_url}, method=POST, "
                                  'headers.Content-Type=application/json, body={"by":"ntfy"}, clear=true')
        req = urllib.request.Request(self.ntfy, data=push.body.encode("utf-8"), headers=headers, method="POST")
        where = self.ntfy.split("?")[0]
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
                r.read(4096)
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip()
            raise OutputError(f"ntfy refused the push ({where}): HTTP {exc.code} {exc.reason}"
                              + (f": {detail}" if detail else "")) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OutputError(f"ntfy could not be reached ({where}): {reason}") from exc
