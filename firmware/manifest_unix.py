# The band's firmware frozen into a 32-bit MicroPython unix port: the interpreter closest to the
# band that runs on a PC (small ints stop at 2^30, 4-byte pointers, bytecode out of the heap).
# `make band32` builds it into build/band32/micropython from MicroPython's source; the tests, the
# bench and `anklet vband --frozen` run it. Everything of the package is frozen (the ESP32 module
# runs here on the stand-ins of tests/esp32_fakes), and so is the virtual band's console.
include("$(MPY_DIR)/extmod/asyncio")  # noqa: F821  (manifest functions are defined by MicroPython's build)
include("manifest.py", unix=True)  # noqa: F821
module("anklet_vband.py", base_path="vband")  # noqa: F821
module("vband_main.py", base_path="vband")  # noqa: F821
