"""Type-check the band firmware against the ESP32 MicroPython stubs (micropython-esp32-stubs).

The stubs install top-level .pyi files (machine, esp32, time with ticks_ms...) and a MicroPython
typeshed (stdlib/) into site-packages, next to unrelated packages. This script links just those into
build/esp32-stubs, so mypy sees the band's world and nothing of the host's, then runs mypy on the
firmware package. Usage: python firmware/typecheck.py  (the Makefile's `typecheck` target).
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "esp32-stubs"
# Host-side or test-only firmware modules: not part of the band's image.
EXCLUDE = ["sim.py", "hw_unix.py", "feed.py"]
# Every module has `try: from micropython import const / except ImportError: def const(x)` (and similar
# shims for time.ticks_*) so it also runs under CPython. On the band the except branch is dead code, but
# mypy still compares the two definitions ([misc], [no-redef]); those two checks are off for that reason.
QUIET = ["--disable-error-code", "misc", "--disable-error-code", "no-redef"]


def stub_files() -> list[Path]:
    files = []
    for dist in ("micropython-esp32-stubs", "micropython-stdlib-stubs"):
        d = metadata.distribution(dist)
        for f in d.files or []:
            if str(f).endswith(".pyi"):
                files.append(Path(str(d.locate_file(f))))
    return files


def build_stub_dir() -> Path:
    sp = None
    for f in stub_files():
        parts = f.parts
        i = max(k for k, p in enumerate(parts) if p == "site-packages")
        sp = Path(*parts[: i + 1])
        rel = Path(*parts[i + 1 :])
        dest = OUT / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            os.symlink(f, dest)
    if sp is None:
        sys.exit("typecheck: micropython-esp32-stubs is not installed (pip install -e '.[dev]')")
    (OUT / "stdlib" / "VERSIONS").unlink(missing_ok=True)
    os.symlink(sp / "stdlib" / "VERSIONS", OUT / "stdlib" / "VERSIONS")
    # Some stubs have errors of their own; they are not ours to fix, so mypy is told to keep quiet on them.
    mods = sorted({p.stem for p in OUT.glob("*.pyi")} | {p.name + ".*" for p in OUT.iterdir() if p.is_dir()})
    (OUT / "mypy.ini").write_text("[mypy]\n\n[mypy-" + ",".join(mods) + "]\nignore_errors = True\n")
    return OUT


def main() -> int:
    stubs = build_stub_dir()
    fw = ROOT / "firmware" / "anklet_fw"
    targets = [str(p) for p in sorted(fw.glob("*.py")) if p.name not in EXCLUDE]
    env = dict(os.environ, MYPYPATH=str(stubs))
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(stubs / "mypy.ini"), "--custom-typeshed-dir", str(stubs), "--no-site-packages",
           "--explicit-package-bases", "--check-untyped-defs", "--follow-imports=silent", *QUIET, "--cache-dir", str(ROOT / "build" / "mypy-esp32"),
           *targets]
    return subprocess.run(cmd, env=env, cwd=ROOT / "firmware").returncode


if __name__ == "__main__":
    sys.exit(main())
