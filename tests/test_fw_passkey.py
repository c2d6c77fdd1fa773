"""The band's pairing passkey: random, kept across resets, never derived from the chip id."""

from __future__ import annotations

from conftest import run_mp

from anklet_fw.radio import load_passkey

CODE = """
from anklet_fw.radio import load_passkey
a = load_passkey({path!r})
b = load_passkey({path!r})
print(a, b)
"""


def test_passkey_drawn_once_then_kept(tmp_path, capsys):
    path = str(tmp_path / "passkey.txt")
    first = load_passkey(path)
    assert 0 <= first < 1000000
    assert "new pairing passkey" in capsys.readouterr().out
    assert load_passkey(path) == first
    assert open(path).read() == f"{first:06d}\n"


def test_passkeys_differ_between_bands(tmp_path):
    keys = {load_passkey(str(tmp_path / f"k{i}.txt")) for i in range(8)}
    assert len(keys) >= 7  # random draws; identical keys for every band would be a fixed secret


def test_a_damaged_passkey_file_is_replaced(tmp_path):
    path = tmp_path / "passkey.txt"
    path.write_text("12ab\n")
    key = load_passkey(str(path))
    assert path.read_text() == f"{key:06d}\n"


def test_under_micropython(tmp_path):
    path = str(tmp_path / "passkey.txt")
    out = run_mp(CODE.format(path=path)).split()
    assert out[-1] == out[-2] and len(out[-1]) <= 6
    assert open(path).read().strip() == f"{int(out[-1]):06d}"
