"""The monitor's side of the outputs: start them, publish to them, listen to them, and turn their failures into FAULTs.

The monitor calls `changed()` whenever an alarm is raised, resolved or acknowledged, and `tick()` once a tick;
each output then gets a fresh `BoardState`. Publishing runs in a task per output, so a slow output (a broker that
does not answer) never holds up the monitor or the others; a publish still running when the next state is due is
followed by one more with the newest state, not by a queue of stale ones.

An output that raises (OutputError or anything else) or overruns `PUBLISH_TIMEOUT_S` raises a lasting FAULT
`output_<name>` that ends when that output delivers again; the local speaker is unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from ..statusview import clock_text
from .base import AlarmOutput, BoardState, OutputError
from .board import alarm_key, board_state

if TYPE_CHECKING:
    from ..monitor import Monitor

PUBLISH_TIMEOUT_S = 10.0  # real seconds
START_TIMEOUT_S = 20.0


class Control:
    """What one output may ask of the monitor (the OutputControl contract)."""

    def __init__(self, hub: OutputHub, name: str) -> None:
        self.hub = hub
        self.name = name
        self.band = str(hub.mon.band_id)

    def acknowledge(self, by: str, mute_s: float | None = None) -> int:
        return self.hub.mon.acknowledge(by=by, mute_s=mute_s)

    def triage_form(self, episode_id: int) -> dict[str, Any]:
        from ..triage import from_store
        from ..triage.schema import FIELDS, STATES, normalise

        ep, band = from_store(self.hub.mon.store, episode_id)
        known = normalise({"episode": band}, today=getattr(ep, "onset", None))
        fields = [{"key": f.key, "type": f.type, "question": f.question, "unit": f.unit, "min": f.lo, "max": f.hi}
                  for f in FIELDS.values() if f.ask and known.get(f.key) is None]
        return {"episode_id": episode_id, "duration_s": round(float(ep.duration_s)), "freq_hz": ep.freq_hz,
                "onset": ep.onset.isoformat() if ep.onset else None, "fields": fields,
                "states": [s for s in STATES if s != "unknown"]}

    def save_triage(self, episode_id: int, answers: dict[str, Any], by: str) -> dict[str, Any]:
        from ..triage import evaluate, from_store, nest
        from ..triage.schema import FIELDS, TriageInputError, convert, normalise

        mon = self.hub.mon
        ep, band = from_store(mon.store, episode_id)
        inputs = normalise({"episode": band}, today=getattr(ep, "onset", None))
        for key, value in answers.items():
            fld = FIELDS.get(key)
            if fld is None or not fld.ask:
                raise TriageInputError(f"unknown question {key!r}")
            if inputs.get(key) is not None:
                raise TriageInputError(f"{key} was measured by the band; it is not asked")
            if value in ("", None, "unknown"):
                continue  # don't know: never lowers the level
            if fld.type in ("number", "count"):
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise TriageInputError(f"{fld.question}: please give a number") from None
                if fld.type == "count" and value == int(value):
                    value = int(value)
            inputs[key] = convert(fld, value, fld.question)
        result = evaluate(inputs)
        nested: dict[str, Any] = nest(inputs)
        nested["notes"] = f"answered on {by}"
        mon.store.save_triage(episode_id, nested, result)
        self.hub.triaged.add(episode_id)
        mon.view.line(mon.clock.now(), f"triage of episode {episode_id} answered on {by}: "
                                       f"{str(result['level']).upper()} (anklet triage --show prints it)", "info")
        self.hub.changed()
        return result


class OutputHub:
    def __init__(self, mon: Monitor, outputs: list[AlarmOutput]) -> None:
        self.mon = mon
        self.outputs = list(outputs)
        self.running: list[AlarmOutput] = []
        self.acked_by: dict[str, str] = {}
        self.last_ack = ""
        self.triaged: set[int] = set()
        self.published = 0
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._next: dict[str, BoardState] = {}  # the newest state each output has yet to get

    # -- from the monitor -------------------------------------------------------------------------

    async def start(self) -> None:
        for out in self.outputs:
            try:
                await asyncio.wait_for(out.start(Control(self, out.name)), START_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # OutputError, or a bug in the output: a FAULT, the watch goes on
                await self._failed(out, exc, "could not start")
                continue
            self.running.append(out)
        self.changed()

    async def close(self) -> None:
        for task in list(self._busy.values()):
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), 2.0)
        for out in self.running:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(out.close(), 5.0)
        self.running = []

    def tick(self, now: float | None = None) -> None:
        self.changed(now)

    def changed(self, now: float | None = None) -> None:
        """Publish the state as it is now to every output (in the background)."""
        if not self.running:
            return
        state = self.state(now)
        for out in self.running:
            busy = self._busy.get(out.name)
            self._next[out.name] = state
            if busy is None or busy.done():
                self._busy[out.name] = asyncio.ensure_future(self._publish(out))
            # else: the running publish sends this newest state when it is done (no queue of stale ones)

    def acknowledged(self, by: str, n: int) -> None:
        """The monitor acknowledged n alarms (a key, `anklet ack`, an output): remember who, and show it."""
        if n:
            for a in self.mon.active.values():
                if a.acked and a.muted_until == self.mon.muted_until:  # the ones acknowledged just now
                    self.acked_by[alarm_key(a.key)] = by
            self.last_ack = f"{clock_text(self.mon.clock.now())} by {by}"
        self.changed()

    def state(self, now: float | None = None) -> BoardState:
        ep = self.mon.last_alarmed_episode
        return board_state(self.mon, now, acked_by=self.acked_by, last_ack=self.last_ack,
                           triage_done=ep is not None and ep in self.triaged)

    # -- publishing -----------------------------------------------------------------------------------

    async def _publish(self, out: AlarmOutput) -> None:
        while out.name in self._next:
            state = self._next.pop(out.name)
            try:
                await asyncio.wait_for(out.publish(state), PUBLISH_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except asyncio.TimeoutError:
                await self._failed(out, OutputError(f"did not deliver within {PUBLISH_TIMEOUT_S:g} s"), "")
            except Exception as exc:
                await self._failed(out, exc, "")
            else:
                self.published += 1
                await self._delivered(out)

    async def _failed(self, out: AlarmOutput, exc: BaseException, what: str) -> None:
        why = str(exc) if isinstance(exc, OutputError) else f"{type(exc).__name__}: {exc}"
        self.mon.faults.output(out.name, f"{what}: {why}" if what else why)
        await self.mon._faults_changed()

    async def _delivered(self, out: AlarmOutput) -> None:
        if f"output_{out.name}" in self.mon.faults.active:
            self.mon.faults.output(out.name, None)
            await self.mon._faults_changed()
