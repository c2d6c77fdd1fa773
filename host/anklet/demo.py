"""`anklet demo` (what `make demo` runs): a whole night on a built-in virtual band.

No Bluetooth hardware and no sound device needed. The band is the firmware itself:
its sampling loop (anklet_fw.band) reads a register-level fake IMU (anklet_fw.sim)
that plays a simulated night (anklet.simulate: sleep, twitches, kicking, rocking,
... and one clonic, seizure-like episode), detects, and queues events in its flash
queue. The real monitor (anklet.monitor) takes them over a link, logs them to a
SQLite log (demo-night.db, kept for `anklet triage`, `anklet report` and `anklet log`), runs the alarm rule and the FAULT checks, and shows its live
status. Time runs accelerated on one virtual clock shared by band and monitor
(default 200x: a two-hour night in about 40 s); the monitor's timers (30 s no data,
mute, repeats) run in that time.

Along the way the radio drops out for 10 s (the band keeps its events and resends
them; nothing is lost or logged twice, and the silence stays under the 30 s FAULT limit), and
a "parent" acknowledges the alarm 30 s after it goes off. The alarm sound is played
if the machine has an audio device, otherwise reported, not played.

Link: in-process (anklet.inproc.InprocLink over the band's queue), or with
`--link ble` Bumble's virtual radio between the firmware's GATT server and the real
BleakLink (anklet.bumble_band).

`--json` prints, as the last line on stdout, {"events_sent", "events_logged",
"alarms": [{"level", "t", ...}], "faults": [...], "episodes": [...], "truth": [...],
...} with t in seconds of night time; the live status then goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from anklet_fw.settings import LIMITS

from . import simulate, trace
from .alarm import check_alarm_s
from .alerts import Notifier, Sound, _no_session_reason, find_player
from .cli import CliError
from .inproc import FirmwareBand, InprocLink
from .monitor import AlarmRecord, Monitor, Settings, VirtualClock
from .statusview import StatusView, clock_text, duration_text, radio_logs
from .store import Store

FS = LIMITS["fs"][0]  # the band's default rate
RANGE_G = LIMITS["range_g"][0]
DROPOUT_S = 10
ACK_AFTER_S = 30
BAND_ID = "demo-band"


def make_night(seed: int, hours: float) -> tuple[simulate.Night, Any]:
    """A simulated night with one clonic episode of 60-120 s, as the band's counts at its rate."""
    nt = simulate.night(seed, hours, seizures=1, seizure_durations=(60.0, 120.0), subtle_share=0.0)
    t, acc = nt.signal()
    return nt, trace.to_counts(trace.Trace(t, acc), FS, RANGE_G)


def bedtime(span: float, hour: int = 22) -> float:
    """The latest 22:00 (local time) from which the whole night is already over: the log reads as last night."""
    now = datetime.now().astimezone()
    t = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    while t.timestamp() + span > now.timestamp():
        t -= timedelta(days=1)
    return t.timestamp()


def dropout_time(nt: simulate.Night, span: float) -> int:
    """A moment for the radio dropout well away from the episode (the demo is about the alarm)."""
    clonic = [x for x in nt.truth if x.type == "clonic"]
    for frac in (0.75, 0.25, 0.5, 0.9):
        t = frac * span
        if all(abs(t - c.start) > 300 and abs(t - c.end) > 300 for c in clonic):
            return int(t)
    return int(0.1 * span)


class _RadioForBand:
    """What the sampling loop expects of its radio, on the firmware's Radio (which exposes raw_on as a property)."""

    def __init__(self, radio: Any) -> None:
        self.radio = radio

    def kick(self) -> None:
        self.radio.kick()

    def raw_on(self) -> bool:
        on = self.radio.raw_on
        return bool(on() if callable(on) else on)

    def raw_push(self, x: int, y: int, z: int) -> None:
        self.radio.raw_push(x, y, z)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "radio":
            object.__setattr__(self, name, value)
        else:  # fs, range_g: the band tells its radio about new settings
            setattr(self.radio, name, value)


async def ble_link(band: FirmwareBand, folder: Path) -> tuple[Any, Any]:
    """Band and monitor over the Bluetooth issue's Bumble virtual radio: the firmware's GATT server (anklet_fw.radio)
    on a virtual controller, the host's BleakLink through a Bumble-backed bleak backend, paired and bonded first.
    A "dropout" then cuts the connection at the controllers (a supervision timeout); the host reconnects."""
    try:
        from .ble import PairingStore
        from .bumble_band import bond, link_for, start_radio, virtual_pair
    except ImportError as exc:
        raise CliError(f"the Bumble virtual link is not available in this build ({exc}); use --link inproc") from exc
    for name in ("bumble", "bleak"):
        if not logging.getLogger(name).level:  # not set by radio_logs: its chatter would scroll over the status
            logging.getLogger(name).setLevel(logging.ERROR)
    pair = await virtual_pair(band_name="anklet-demo")
    radio = start_radio(pair, band.queue, boot=band.boot, pairing_s=60, status=band.fw.radio_status,
                        fs=band.fs, range_g=RANGE_G)
    band.fw.radio = _RadioForBand(radio)
    pairing = await bond(pair, PairingStore(folder / "bands.json"))
    radio.set_pairing(0)
    link = link_for(pair, pairing)
    # Virtual time waits for the radio: while the host (re)connects or has events to take in, the band's next
    # second waits, up to 50 ms of real time per simulated second. Without this, 0.2 s of real reconnection
    # would be 40 s of night at 200x.
    band.caught_up = lambda: radio.connected and band.queue.depth() == 0

    def drop_link(b: Any, on: bool) -> None:
        if not on:
            pair.drop()

    band.set_radio = lambda on: drop_link(band, on)  # type: ignore[method-assign]

    async def cleanup() -> None:
        radio.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await radio.task
        quiet = logging.getLogger("asyncio")
        level, quiet.level = quiet.level, logging.CRITICAL  # virtual controllers torn down mid-exchange
        try:
            await pair.close()
            await asyncio.sleep(0.05)
        finally:
            quiet.setLevel(level)

    return link, cleanup


def choose_sound(mode: str, out: TextIO) -> tuple[Sound, str]:
    if mode == "auto":
        player, why = find_player()
        if player is None:
            return Sound("report", out=out), f"reported, not played: {why}"
        return Sound("auto", out=out, player=player), f"played with {Path(player[0]).name}"
    return Sound(mode, out=out), {"report": "reported, not played", "bell": "terminal bell"}[mode]


async def run_night(args: argparse.Namespace, out: TextIO, db_path: Path, keys: Path) -> dict[str, Any]:
    real0 = time.monotonic()
    nt, counts = make_night(args.seed, args.hours)
    span = len(counts) / FS
    start = bedtime(span)
    clock = VirtualClock(start)
    drop_at = dropout_time(nt, span)
    actions = [] if args.no_dropout else [(drop_at, lambda b: b.set_radio(False)),
                                          (drop_at + DROPOUT_S, lambda b: b.set_radio(True))]
    speed = args.speed if args.speed and args.speed > 0 else None
    band = FirmwareBand(counts, clock=clock, start=start, speed=speed, actions=actions)
    link_name = "in-process"
    cleanup = None
    dropout = f"the band out of reach for {DROPOUT_S} s"
    link_kind = args.link
    if link_kind == "auto":
        link_kind = "ble" if ble_available() else "inproc"
    if link_kind == "ble":
        link, cleanup = await ble_link(band, keys)
        link_name = "Bumble virtual BLE link (firmware radio, bleak, LE Secure Connections)"
        dropout = "connection cut at both controllers (supervision timeout)"
    else:
        link = InprocLink(band, BAND_ID)
        if args.link == "auto":
            link_name += " (the Bumble virtual link is not installed)"
    sound, sound_text = choose_sound(args.sound, out)
    notifier = Notifier(enabled=not args.no_notify and _no_session_reason() is None)
    view = StatusView(out, every_s=900, verbose=args.verbose)
    store = Store(db_path)
    mon = Monitor(link, store, settings=Settings(poll_s=0.05, alarm_s=args.alarm_s), clock=clock, sound=sound,
                  notifier=notifier, view=view, outputs=web_outputs(args.web, out) + mqtt_outputs(args.mqtt, out))
    mon.cli = anklet_command()  # the hints it prints work as typed here, before the venv is activated
    view.line(start, f"demo: a {duration_text(span)} night at {'full speed' if speed is None else f'{speed:g}x'} on a "
                     f"simulated band; alarm sound: {sound_text}", "info",
              detail=f"band: firmware sampling loop on a simulated LSM6DS3TR-C at {FS} Hz; link: {link_name}")
    acks: list[float] = []

    first_loud: asyncio.Future[AlarmRecord] = asyncio.get_running_loop().create_future()

    def heard(rec: AlarmRecord) -> None:
        if rec.level in ("alarm", "escalation") and not first_loud.done():
            first_loud.set_result(rec)

    mon.on_alarm = heard

    async def parent() -> None:  # wakes up and presses the key ACK_AFTER_S after the first loud alarm
        rec = await first_loud
        # Timed from the band's event on the shared virtual clock, not from when this task got to run: a busy
        # machine must not move the acknowledgement.
        went_off = start + rec.t_ms / 1000 if rec.t_ms is not None else rec.at
        await clock.sleep(went_off + ACK_AFTER_S - clock.now())
        view.line(clock.now(), "demo: a parent presses the acknowledge key", "info")
        mon.acknowledge("demo parent")
        acks.append(clock.now() - start)

    mon_task = asyncio.create_task(mon.run(keys=True))  # on a terminal, press a to acknowledge yourself
    parent_task = asyncio.create_task(parent())
    try:
        deadline = time.monotonic() + 30
        while not mon.connected and time.monotonic() < deadline:  # the parents start the monitor, then sleep
            await asyncio.sleep(0.02)
        if args.web is not None and out.isatty():
            view.line(clock.now(), f"demo: the night starts in {WEB_HEAD_START_S} s: open the page now", "info")
            await asyncio.sleep(WEB_HEAD_START_S)
        await band.run()
        deadline = time.monotonic() + 10
        while band.queue.depth() and time.monotonic() < deadline:  # the last events reach the log
            await asyncio.sleep(0.02)
        if mon.triage_running:  # someone pressed t: the night waits for their answers
            view.line(clock.now(), "demo: the night is over; it ends when the questions are answered", "info")
            while mon.triage_running:
                await asyncio.sleep(0.1)
        if args.web is not None and out.isatty():
            view.line(clock.now(), "demo: the night is over; the page stays up until you press Ctrl-C", "info")
            await until_interrupted()
    finally:
        parent_task.cancel()
        mon.stop()
        await mon_task
        with contextlib.suppress(asyncio.CancelledError):
            await parent_task
        if cleanup is not None:
            await cleanup()
    try:
        s = summarise(mon, band, store, nt, start, span, time.monotonic() - real0, link_name, sound_text, acks, drop_at,
                      not args.no_dropout)
        if s["radio_dropout"]:
            s["radio_dropout"]["what"] = dropout
        s["link_overstays"] = mon.overstays
        s["start"] = start
        return s
    finally:
        store.close()


WEB_HEAD_START_S = 10


def mqtt_outputs(broker: str | None, out: TextIO) -> list[Any]:
    """The demo band on an MQTT broker (`--mqtt HOST[:PORT]`): under anklet/demo/<band>/, with discovery."""
    if broker is None:
        return []
    from .outputs.mqtt import MqttOutput

    host, sep, port = broker.rpartition(":")
    if not sep:
        host, port = broker, "1883"
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise CliError(f"--mqtt: expected HOST or HOST:PORT (for example localhost:1883), got {broker!r}")

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    return [MqttOutput(host.strip("[]"), int(port), site="demo", band_name="demo_band", say=say)]


def web_outputs(listen: str | None, out: TextIO) -> list[Any]:
    """The bedside page for the demo night (`--web`): a fresh token, a free port if the usual one is taken."""
    if listen is None:
        return []
    import secrets
    import socket

    from .config import host_port
    from .outputs.web import WebOutput

    try:
        host, port = host_port(listen or "0.0.0.0:8765")
    except ValueError as exc:
        raise CliError(f"--web: {exc}") from exc
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            port = 0  # another demo has it: any free port, the address printed says which

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    return [WebOutput(host, port, token=secrets.token_urlsafe(16), say=say, qr=out.isatty())]


async def until_interrupted() -> None:
    import signal

    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    try:
        loop.add_signal_handler(signal.SIGINT, done.set)
    except (NotImplementedError, RuntimeError):  # Windows
        return
    try:
        await done.wait()
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def summarise(mon: Monitor, band: FirmwareBand, store: Store, nt: simulate.Night, start: float, span: float,
              real_s: float, link_name: str, sound_text: str, acks: list[float], drop_at: int, dropped: bool) -> dict[str, Any]:
    alarms = []
    faults = []
    for r in mon.raised:
        if r.level in ("notice", "alarm", "escalation"):
            if r.message.startswith("mute over"):
                continue
            alarms.append({"level": r.level, "t": round(r.t_ms / 1000 if r.t_ms is not None else r.at - start, 1),
                           "message": r.message, "sound": r.sounded})
        else:
            faults.append({"level": r.level, "code": r.code, "t": round(r.at - start, 1), "message": r.message})
    episodes = [{"onset_t": round(e.onset_ms / 1000, 1), "duration_s": e.duration_s, "freq_hz": e.freq_hz,
                 "f_start_hz": e.f_start_hz, "f_end_hz": e.f_end_hz, "rhythm": round(e.rhythm, 2),
                 "max_level": e.max_level} for e in store.episodes()]
    truth = [{"type": x.type, "start": round(x.start, 1), "end": round(x.end, 1)} for x in nt.truth
             if x.type not in ("rem_twitches", "posture_change")]
    seqs = [e.event.seq for e in store.events()]
    return {
        "events_sent": band.sent,
        "events_logged": store.count_events(),
        "logged_once": len(seqs) == len(set(seqs)),
        "band_acknowledged_all": band.queue.depth() == 0,
        "alarms": alarms,
        "faults": faults,
        "episodes": episodes,
        "truth": truth,
        "acknowledged_t": [round(a, 1) for a in acks],
        "radio_dropout": {"t": drop_at, "duration_s": DROPOUT_S, "reconnects": max(0, band_connects(mon) - 1)}
        if dropped else None,
        "night_s": round(span),
        "real_s": round(real_s, 1),
        "link": link_name,
        "sound": sound_text,
    }


def band_connects(mon: Monitor) -> int:
    return int(getattr(mon.link, "connects", 1))


def ble_available() -> bool:
    try:
        from . import ble, bumble_band  # noqa: F401
    except ImportError:
        return False
    return True


def report(s: dict[str, Any], db_text: str, verbose: bool = False) -> str:
    """The night in words, every time on the parents' clock (local HH:MM:SS, as the live lines)."""

    def hms(t: float) -> str:  # seconds into the night -> the wall clock
        return clock_text(s["start"] + t)

    lines = ["", "== the night =="]
    lines.append(f"{duration_text(s['night_s'])} of night in {duration_text(s['real_s'])}"
                 + (f"; link: {s['link']}" if verbose else ""))
    once = "each exactly once" if s["logged_once"] and s["events_sent"] == s["events_logged"] else "MISMATCH"
    lines.append(f"events: {s['events_sent']} sent by the band, {s['events_logged']} logged ({once})")
    if s["radio_dropout"]:
        d = s["radio_dropout"]
        lines.append(f"band out of reach at {hms(d['t'])} for {duration_text(d['duration_s'])}: the monitor reconnected "
                     f"{d['reconnects']} time(s), the band resent what it held"
                     + (f" [{d.get('what', '')}]" if verbose else ""))
    for e in s["episodes"]:
        lines.append(f"episode at {hms(e['onset_t'])}: {duration_text(e['duration_s'])} of rhythmic movement at "
                     f"{e['freq_hz']:.1f} Hz ({e['f_start_hz']:.1f} -> {e['f_end_hz']:.1f} Hz), "
                     f"alarm level {(e['max_level'] or 'none').upper()}")
    if not s["episodes"]:
        lines.append("episodes: none detected")
    for x in s["truth"]:
        lines.append(f"  simulated: {x['type']} {hms(x['start'])}-{hms(x['end'])} "
                     f"({duration_text(x['end'] - x['start'])})")
    for a in s["alarms"]:
        lines.append(f"{a['level'].upper()} at {hms(a['t'])}: {a['message']}"
                     + (f"; sound {a['sound']}" if a["sound"] else ""))
    for t in s["acknowledged_t"]:
        lines.append(f"acknowledged at {hms(t)}")
    if s["faults"]:
        for f in s["faults"]:
            lines.append(f"{f['level'].upper()} at {hms(f['t'])}: {f['message']}")
    else:
        lines.append("faults: none (the band was heard from throughout)")
    lines.append(f"alarm sound: {s['sound']}")
    lines.append(f"log: {db_text}")
    return "\n".join(lines) + "\n"


DEMO_DB = Path("demo-night.db")  # in the folder the demo runs from (`make demo`: the repository)


def _check(args: argparse.Namespace) -> None:
    if not 0 < args.hours <= 24:
        raise CliError(f"--hours must be more than 0 and at most 24, not {args.hours:g}")
    if args.speed < 0:
        raise CliError(f"--speed must be 0 (as fast as possible) or more, not {args.speed:g}")
    if args.seed < 0:
        raise CliError(f"--seed must be 0 or more, not {args.seed}")
    try:
        check_alarm_s(args.alarm_s)
    except ValueError as exc:
        raise CliError(f"--alarm-s: {exc}") from None


def _remove_log(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)


def anklet_command() -> str:
    """How to type `anklet` here: the bare name if the shell finds this very program, else its path."""
    here = Path(sys.argv[0]) if Path(sys.argv[0]).name == "anklet" else Path(sys.executable).with_name("anklet")
    found = shutil.which("anklet")
    if found and here.exists() and Path(found).resolve() == here.resolve():
        return "anklet"
    if here.exists():
        try:
            return str(here.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(here)
    return "anklet"


def next_steps(db_path: Path) -> str:
    """The closing hint: the commands of the README's "after the demo" section, on the night just logged."""
    cmd = anklet_command()
    db = f" --db {db_path}"
    steps = []
    if cmd != "anklet":
        steps.append((f". {Path(cmd).parent}/activate", f"puts the `anklet` command on your PATH (or type {cmd})"))
    steps += [(f"anklet triage last{db}", "the questions about the episode that alarmed, then advice"),
              (f"anklet report{db} --out night.html", "the night report: open night.html in a browser"),
              (f"anklet log{db} --what episodes", "the episodes the band logged")]
    width = max(len(c) for c, _ in steps) + 2
    lines = [f"The night's log is kept in {db_path}. Look at it as parents would after a real night:"]
    lines += [f"  {c.ljust(width)}# {why}" for c, why in steps]
    return "\n".join(lines) + "\n"


def _cmd(args: argparse.Namespace) -> int:
    _check(args)
    out = sys.stderr if args.json else sys.stdout
    if args.db:
        db_path = Path(args.db)
        if db_path.exists():
            raise CliError(f"{db_path} exists; the demo writes a fresh log (choose another --db)")
    else:
        db_path = DEMO_DB
        _remove_log(db_path)  # the previous demo's night: each demo writes a fresh one
    radio_logs(args.verbose)
    tmp = tempfile.mkdtemp(prefix="anklet-demo-")  # the virtual band's pairing keys: nothing to keep
    try:
        summary = asyncio.run(run_night(args, out, db_path, Path(tmp)))
    except KeyboardInterrupt:
        out.write(f"\ndemo stopped (Ctrl-C); the night so far is in {db_path}\n")
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out.write(report(summary, str(db_path), args.verbose))
    out.write("\n" + next_steps(db_path))
    out.flush()
    if args.json:
        print(json.dumps(summary))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a simulated night on a built-in virtual band, through the real monitor",
                       description="A complete night on a built-in virtual band: the firmware on a simulated IMU, "
                                   "the monitor, its log and alarms, in accelerated time. No hardware needed.")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line (live status on stderr)")
    p.add_argument("--seed", type=int, default=7, help="which simulated night (default 7)")
    p.add_argument("--hours", type=float, default=2.0, help="length of the night (default 2)")
    p.add_argument("--speed", type=float, default=200.0, help="times faster than real time (default 200; 0: as fast as possible)")
    p.add_argument("--alarm-s", type=float, default=20.0, help="ALARM after this many seconds of rhythm (10-120)")
    p.add_argument("--link", choices=("auto", "ble", "inproc"), default="auto",
                   help="how band and monitor talk: ble (Bumble virtual radio), inproc (in-process), auto: ble if installed")
    p.add_argument("--sound", choices=("auto", "report", "bell"), default="auto",
                   help="auto: play the alarm if there is an audio device, else report it")
    p.add_argument("--no-notify", action="store_true", help="no desktop notifications")
    p.add_argument("--no-dropout", action="store_true", help="no radio dropout during the night")
    p.add_argument("--verbose", action="store_true", help="also say how band and monitor talk (radio, libraries)")
    p.add_argument("--db", help=f"write the log here, a new file (default: {DEMO_DB} in the current folder, "
                                "replacing the previous demo's night)")
    p.add_argument("--web", nargs="?", const="", metavar="HOST:PORT",
                   help="serve the bedside page for the night (default 0.0.0.0:8765); on a terminal the night waits "
                        f"{WEB_HEAD_START_S} s for you to open it, and the page stays up until Ctrl-C")
    p.add_argument("--mqtt", metavar="HOST[:PORT]",
                   help="also publish the night to this MQTT broker, with Home Assistant discovery (anklet/demo/...)")
    p.set_defaults(func=_cmd)
