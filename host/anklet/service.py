"""`anklet service install|uninstall|show`: the monitor as a systemd user service, started at boot and restarted
if it fails (a Raspberry Pi or a spare laptop by the cot).

The unit runs `anklet monitor` with this very Python (the one anklet is installed in), its settings from
config.toml (`anklet config`), and `Restart=on-failure`: a crash is followed by a new monitor within seconds, which
raises the FAULT "the monitor stopped unexpectedly" for the gap. `install` writes the unit and prints the systemctl
commands; it enables and starts it only with `--enable`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

UNIT = "anklet-monitor.service"


def unit_dir() -> Path:
    """~/.config/systemd/user, or under $XDG_CONFIG_HOME: where systemd looks for a user's own units."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def unit_text(args: list[str], python: str | None = None) -> str:
    exe = python or sys.executable
    cmd = " ".join(shlex.quote(a) for a in [exe, "-m", "anklet.cli", "monitor", *args])
    return f"""[Unit]
Description=anklet night monitor: watches the band, alarms when it cannot
StartLimitIntervalSec=300
StartLimitBurst=20

[Service]
Type=simple
ExecStart={cmd}
# A crash or a kill: a new monitor in 5 s (it says the gap out loud). `systemctl --user stop` is a clean stop.
Restart=on-failure
RestartSec=5
Environment=PYTHONUNBUFFERED=1
TimeoutStopSec=20

[Install]
WantedBy=default.target
"""


def _systemctl(*cmd: str) -> tuple[bool, str]:
    exe = shutil.which("systemctl")
    if exe is None:
        return False, "systemctl is not available"
    try:
        r = subprocess.run([exe, "--user", *cmd], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, str(exc)
    return r.returncode == 0, (r.stderr or r.stdout).strip()


def install(monitor_args: list[str], enable: bool = False, directory: Path | None = None) -> int:
    d = directory or unit_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / UNIT
    existed = path.exists()
    path.write_text(unit_text(monitor_args))
    print(f"{'replaced' if existed else 'wrote'} {path}")
    steps = ["systemctl --user daemon-reload", f"systemctl --user enable --now {UNIT}"]
    linger = f"loginctl enable-linger {os.environ.get('USER', '$USER')}"
    if enable:
        for step in steps:
            ok, why = _systemctl(*step.split()[2:])
            if not ok:
                print(f"`{step}` failed: {why}", file=sys.stderr)
                return 1
        print(f"enabled and started: it starts at every login; `{linger}` makes it start at boot, before anyone "
              "logs in")
    else:
        print("not enabled yet. To start it now and at every login:")
        for step in steps:
            print(f"  {step}")
        print(f"To start it at boot, before anyone logs in (a Raspberry Pi, a spare laptop):\n  {linger}")
    print(f"Is it watching?  systemctl --user status {UNIT}    What did it say?  journalctl --user -u {UNIT} -f")
    return 0


def uninstall(directory: Path | None = None) -> int:
    path = (directory or unit_dir()) / UNIT
    if not path.exists():
        print(f"no {path}: nothing to remove")
        return 0
    ok, why = _systemctl("disable", "--now", UNIT)
    if not ok:
        print(f"could not stop it with systemctl ({why}); if it runs, stop it: systemctl --user disable --now {UNIT}")
    path.unlink()
    _systemctl("daemon-reload")
    print(f"removed {path}: anklet no longer starts by itself; the log and settings are kept")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("service", help="run the monitor as a service that starts at boot (systemd)",
                       description="Write (or remove) a systemd user unit that runs `anklet monitor` and restarts it "
                                   "if it fails. Settings come from config.toml (`anklet config`).")
    ss = p.add_subparsers(dest="action", metavar="ACTION")
    ss.required = True
    i = ss.add_parser("install", help="write the unit (and print the commands that start it)")
    i.add_argument("--enable", action="store_true", help="also enable and start it now (systemctl --user)")
    i.add_argument("--config", help="the settings file the service uses (default: the usual config.toml)")
    i.add_argument("--db", help="the log the service writes (default: the usual one)")
    i.add_argument("--web", nargs="?", const="", metavar="HOST:PORT", help="serve the bedside page too")
    i.set_defaults(func=_cmd_install)
    u = ss.add_parser("uninstall", help="stop it and remove the unit (the log and settings are kept)")
    u.set_defaults(func=lambda args: uninstall())
    s = ss.add_parser("show", help="print the unit that install would write")
    s.add_argument("--config")
    s.add_argument("--db")
    s.add_argument("--web", nargs="?", const="", metavar="HOST:PORT")
    s.set_defaults(func=lambda args: print(unit_text(_monitor_args(args)), end="") or 0)


def _monitor_args(args: Any) -> list[str]:
    out: list[str] = []
    if getattr(args, "config", None):
        out += ["--config", str(Path(args.config).resolve())]
    if getattr(args, "db", None):
        out += ["--db", str(Path(args.db).resolve())]
    if getattr(args, "web", None) is not None:
        out += ["--web"] + ([args.web] if args.web else [])
    return out


def _cmd_install(args: Any) -> int:
    from .cli import CliError

    if sys.platform != "linux":
        raise CliError("anklet service uses systemd, on Linux; on macOS or Windows start `anklet monitor` at login "
                       "from the system's own startup settings")
    return install(_monitor_args(args), enable=args.enable)
