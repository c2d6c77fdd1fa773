"""The `anklet` command line: one sub-command per module, each registering itself.

A command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sqlite3
import sys

# Each command and the module that provides it, in the order `anklet --help` lists them. Only the module of the
# command being run is imported (a replay need not load Bluetooth, the web server and the report's plotting);
# tests/test_cli_errors.py holds this table equal to what the modules register.
COMMANDS: dict[str, str] = {
    "replay": "anklet.replay",
    "simulate": "anklet.simulate",
    "demo": "anklet.demo",
    "monitor": "anklet.monitor",
    "config": "anklet.config",
    "log": "anklet.logcmd",
    "export": "anklet.logcmd",
    "ack": "anklet.logcmd",
    "scan": "anklet.ble_commands",
    "pair": "anklet.ble_commands",
    "record": "anklet.ble_commands",
    "triage": "anklet.triage.cli",
    "report": "anklet.report.cli",
    "flash": "anklet.flash",
    "vband": "anklet.vband",
    "service": "anklet.service",
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))


class CliError(Exception):
    """An error the user can fix; printed without a traceback, exit code 2."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for every command, or, when `command` is one of them, for that command alone."""
    parser = argparse.ArgumentParser(prog="anklet", description="anklet: infant night monitor for prolonged rhythmic leg shaking")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    modules = [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Mistakes the user can fix end in one line on stderr and exit code 2, Ctrl-C in
    "stopped" and exit code 130: never in a traceback."""
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(argv[0] if argv else None)
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"anklet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nanklet: stopped (Ctrl-C)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except sqlite3.DatabaseError as exc:  # a damaged log: say so, never a traceback
        print(f"anklet: error: the log cannot be read: {exc} (is it an anklet log, undamaged?)", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a missing directory, a permission
        where = f" {exc.filename}" if exc.filename else ""
        print(f"anklet: error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a fault of anklet, not of the user: one line, the details on request
        if os.environ.get("ANKLET_DEBUG"):
            raise
        print(f"anklet: internal error: {type(exc).__name__}: {exc} (this is a bug in anklet; "
              "run again with ANKLET_DEBUG=1 for the details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
