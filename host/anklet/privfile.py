"""Files of the night written privately and whole: readable by their owner only (0600), like the log, and never
left half-written. Each is written to a temporary file beside the target and renamed over it when complete,
so a full disk or a crash leaves the old file (or none), never a truncated one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def private_path(path: str | os.PathLike[str], make_dirs: bool = False) -> Iterator[Path]:
    """A temporary path (already created, 0600) for a writer that wants a file name; renamed to `path` on success."""
    target = Path(path)
    if make_dirs:
        target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)  # mkstemp: mode 0600
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # a writer that recreated the file must not have widened it
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_private(path: str | os.PathLike[str], write: Callable[[IO[Any]], None], *, text: bool = True) -> None:
    """Call write(file) on a private temporary file, then put it in place of `path`."""
    with private_path(path) as tmp:
        mode = "w" if text else "wb"
        kwargs: dict[str, Any] = {"encoding": "utf-8", "newline": ""} if text else {}
        with open(tmp, mode, **kwargs) as f:
            write(f)
