"""`anklet service`: start the monitor at boot and again after any failure, as a systemd user service.

A Raspberry Pi or a spare laptop by the cot runs `anklet monitor` all night; if it crashes, is killed or the
computer restarts after a power cut, systemd starts it again (the band resends what was not logged, and the
monitor raises a `host_crash` FAULT for the gap). The unit runs this very Python and anklet, with the settings
of config.toml (`anklet config`). `install` writes the unit and, with `--enable`, starts it and lets it run
without anyone logged in; otherwise it prints the commands that do.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

UNIT_NAME = "anklet-monitor.service"


def unit_dir() -> Path:
    """Where systemd looks for this user's units."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def unit_text(python: str, db: str | None = None, config: str | None = None) -> str:
    argv = [python, "-m", "anklet.cli", "monitor"]
    if db:
        argv += ["--db", db]
    if config:
        argv += ["--config", config]
    return f"""[Unit]
Description=anklet night monitor (alarms on prolonged rhythmic leg shaking)
Wants=bluetooth.target sound.target
After=bluetooth.target sound.target
# Never give up restarting: a night monitor that stops trying watches nothing.
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart={shlex.join(argv)}
# A monitor that dies is started again; the band resends what the log does not hold.
Restart=on-failure
RestartSec=5
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=default.target
"""


def enable_commands() -> list[list[str]]:
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or "$USER"
    return [["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", "--now", UNIT_NAME],
            ["loginctl", "enable-linger", user]]  # start at boot, before anyone logs in


def register(sub: Any) -> None:
    p = sub.add_parser("service", help="run the monitor at boot and after any failure (systemd user service)",
                       description="Write (or remove) a systemd user unit that runs `anklet monitor` at boot and "
                                   "restarts it after any failure. Linux with systemd only.")
    sp = p.add_subparsers(dest="action", metavar="ACTION")
    sp.required = True
    i = sp.add_parser("install", help="write the unit; --enable also starts it")
    i.add_argument("--db", help="the log the service writes (default: anklet's own)")
    i.add_argument("--config", help="the settings file (default: anklet config --path)")
    i.add_argument("--enable", action="store_true", help="also reload systemd, enable and start the service")
    i.set_defaults(func=_install)
    u = sp.add_parser("uninstall", help="stop the service and remove the unit")
    u.set_defaults(func=_uninstall)


def _install(args: Any) -> int:
    from .cli import CliError

    path = unit_dir() / UNIT_NAME
    db = str(Path(args.db).expanduser().resolve()) if args.db else None
    config = str(Path(args.config).expanduser().resolve()) if args.config else None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(unit_text(sys.executable, db, config))
    tmp.replace(path)
    print(f"wrote {path}")
    cmds = enable_commands()
    if not args.enable:
        print("to start it now and at every boot:")
        for c in cmds:
            print("  " + shlex.join(c))
        return 0
    if shutil.which("systemctl") is None:
        raise CliError("systemctl not found: this computer does not run systemd; start `anklet monitor` yourself")
    for c in cmds:
        res = subprocess.run(c, capture_output=True, text=True)
        if res.returncode != 0:
            raise CliError(f"{shlex.join(c)} failed: {(res.stderr or res.stdout).strip()}")
    print(f"{UNIT_NAME} is running and will start at every boot; `journalctl --user -u {UNIT_NAME}` shows it")
    return 0


def _uninstall(args: Any) -> int:
    path = unit_dir() / UNIT_NAME
    if shutil.which("systemctl") is not None and path.exists():
        subprocess.run(["systemctl", "--user", "disable", "--now", UNIT_NAME], capture_output=True)
    if path.exists():
        path.unlink()
        print(f"removed {path}")
    else:
        print(f"no unit at {path}: nothing to remove")
    return 0
