"""The project's own packaging: no setuptools warnings from its configuration, every package and data folder
shipped, and `make demo` installing only what the demo runs (`make test` adds the development toolchain)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")


def test_license_is_an_spdx_string_with_a_setuptools_that_reads_it():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["project"]["license"] == "MIT"  # the table form is deprecated (a warning on every install)
    [req] = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    m = re.match(r"setuptools>=(\d+)", req)
    assert m and int(m[1]) >= 77, req  # setuptools 77 is the first to take an SPDX expression


def test_every_folder_of_the_package_is_found():
    from setuptools import find_namespace_packages

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    find = cfg["packages"]["find"]
    found = set()
    for where in find["where"]:
        found |= set(find_namespace_packages(str(ROOT / where), include=find["include"]))
    on_disk = {".".join(p.relative_to(ROOT / "host").parts) for p in (ROOT / "host" / "anklet").rglob("*")
               if p.is_dir() and p.name != "__pycache__" and any(f.is_file() for f in p.iterdir())}
    assert on_disk | {"anklet", "anklet_fw"} <= found, sorted(on_disk - found)
    assert "anklet.data" in found


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_demo_installs_only_the_runtime_and_make_test_adds_the_dev_tools():
    def plan(target: str) -> str:
        # -n: print, run nothing; -W pyproject.toml: as if it had changed, so every install step shows;
        # -o band32: the MicroPython build recurses into make, which -n would run
        return subprocess.run(["make", "-n", "-o", "band32", "-W", "pyproject.toml", target], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout

    demo, test = plan("demo"), plan("test")
    assert "pip install -q -e ." in demo and "[dev]" not in demo
    assert "'.[dev]'" in test
