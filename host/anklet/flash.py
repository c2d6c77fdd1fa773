"""`anklet flash --port PORT`: install the band firmware with mpremote.

The package firmware/anklet_fw is compiled with `mpy-cross -march=xtensawin` (or copied as source with
--source) into anklet_fw/ on the band, main.py goes to its root, and the band is reset so main.py starts
the sampling loop. Old anklet_fw files are removed first, so a stale .py never shadows a new .mpy.
A virtual band (`anklet vband`) is flashed the same way; it also gets the unix-only modules.
A band whose image has the firmware frozen in (firmware/manifest.py; `anklet vband --frozen`) gets only
main.py, and its anklet_fw/ folder is removed: files there would shadow the frozen modules.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import anklet_fw
from anklet_fw import boards

from .cli import CliError

PACKAGE_DIR = Path(anklet_fw.__file__).resolve().parent
# Only the virtual band (MicroPython unix port) imports these.
UNIX_ONLY = {"hw_unix.py", "sim.py"}
# Only a real band imports this.
BOARD_ONLY = {"hw_esp32.py"}
KEEP_SOURCE = {"__init__.py"}

CLEAN = """
import os
try:
    os.mkdir('anklet_fw')
except OSError:
    pass
for n in os.listdir('anklet_fw'):
    if n.endswith('.py') or n.endswith('.mpy'):
        os.remove('anklet_fw/' + n)
"""

MAIN = """# The band's entry point, written by `anklet flash`.
from anklet_fw import app

app.main({board})
"""


def tool(name: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise CliError(f"{name} is not installed (pip install {name})")
    return found


def mpremote(port: str, *args: str, timeout: float = 120) -> str:
    cmd = [tool("mpremote"), "connect", port, *args]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise CliError(f"mpremote timed out talking to {port}") from exc
    if res.returncode != 0:
        msg = (res.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise CliError(f"mpremote failed on {port}: {msg}")
    return res.stdout


# Whether the image has anklet_fw frozen in: imported with only the frozen modules on the path, with the
# package's modules already loaded (from files, perhaps) set aside and put back.
PROBE = """
import sys
def _fw(k):
    return k == 'anklet_fw' or k.startswith('anklet_fw.')
_m = {k: sys.modules[k] for k in sys.modules if _fw(k)}
for k in _m:
    del sys.modules[k]
_p = sys.path[:]
sys.path[:] = ['.frozen']
try:
    import anklet_fw.events
    _f = 1
except ImportError:
    _f = 0
sys.path[:] = _p
for k in [k for k in sys.modules if _fw(k)]:
    del sys.modules[k]
sys.modules.update(_m)
print('PLATFORM=' + sys.platform)
print('FROZEN=%d' % _f)
"""

RMDIR = """
import os
try:
    os.rmdir('anklet_fw')
except OSError:
    pass
"""


def probe(port: str) -> tuple[str, bool]:
    """(sys.platform, whether anklet_fw is frozen in the image) of the MicroPython on `port`."""
    out = mpremote(port, "resume", "exec", PROBE)
    found = dict(line.strip().split("=", 1) for line in out.splitlines() if line.startswith(("PLATFORM=", "FROZEN=")))
    if "PLATFORM" not in found:
        raise CliError(f"{port} did not say what it runs on: {out.strip()[:200]!r}")
    return found["PLATFORM"], found.get("FROZEN") == "1"


def platform_of(port: str) -> str:
    """sys.platform of the MicroPython on `port` ("esp32", "linux" for a virtual band...)."""
    return probe(port)[0]


def build(dest: Path, platform: str, source: bool = False, march: str = "xtensawin") -> list[Path]:
    """Compile (or copy) the firmware package into dest/anklet_fw; return the files."""
    pkg = dest / "anklet_fw"
    pkg.mkdir(parents=True, exist_ok=True)
    skip = BOARD_ONLY if platform in ("linux", "darwin") else UNIX_ONLY
    out = []
    for src in sorted(PACKAGE_DIR.glob("*.py")):
        if src.name in skip:
            continue
        if source or src.name in KEEP_SOURCE:
            shutil.copy(src, pkg / src.name)
            out.append(pkg / src.name)
            continue
        target = pkg / (src.stem + ".mpy")
        # -s: tracebacks name the module, and the band interns a short name instead of this path
        res = subprocess.run([tool("mpy-cross"), f"-march={march}", "-s", f"anklet_fw/{src.name}", "-o", str(target),
                              str(src)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise CliError(f"mpy-cross failed on {src.name}: {res.stderr.strip()}")
        out.append(target)
    return out


def flash(port: str, source: bool = False, board: str | None = None, reset: bool = True) -> list[str]:
    """Install the firmware on the band at `port`; returns the installed paths (relative to the band's root)."""
    if board is not None:
        try:
            boards.get(board)
        except ValueError as exc:
            raise CliError(str(exc)) from exc
    platform, frozen = probe(port)
    with tempfile.TemporaryDirectory(prefix="anklet-flash-") as tmp:
        root = Path(tmp)
        (root / "main.py").write_text(MAIN.format(board=repr(board) if board else ""))
        if frozen:
            files = []
            args = ["resume", "exec", CLEAN + RMDIR]
        else:
            files = build(root, platform, source)
            args = ["resume", "exec", CLEAN, "+", "fs", "cp", *[str(f) for f in files], ":anklet_fw/"]
        args += ["+", "fs", "cp", str(root / "main.py"), ":main.py"]
        if reset:
            args += ["+", "reset"]
        mpremote(port, *args)
    return ["anklet_fw/" + f.name for f in files] + ["main.py"]


def cmd_flash(args: argparse.Namespace) -> int:
    installed = flash(args.port, source=args.source, board=args.board, reset=not args.no_reset)
    kind = "source" if args.source else "compiled (.mpy)"
    if installed == ["main.py"]:
        kind = "main.py only: the firmware is frozen into the band's image"
    print(f"flashed {len(installed)} files ({kind}) to {args.port}" + ("" if args.no_reset else "; band reset"))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("flash", help="install the band firmware with mpremote", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", required=True, help="serial port of the band, or a virtual band's pty")
    p.add_argument("--source", action="store_true", help="install .py source instead of mpy-cross output")
    p.add_argument("--board", help=f"board definition (default {boards.REFERENCE}; known: "
                   f"{', '.join(sorted(boards.BOARDS))})")
    p.add_argument("--no-reset", action="store_true", help="do not reset the band afterwards")
    p.set_defaults(func=cmd_flash)
