# Freezes the band's firmware into a MicroPython image: frozen bytecode runs from flash, so the
# heap keeps only the band's state and the module objects (docs/firmware.md, "Memory").
# In a MicroPython source tree, for the reference board (docs/firmware.md, "A frozen image"):
#   make -C ports/esp32 BOARD=ESP32_GENERIC_S3 FROZEN_MANIFEST=/path/to/anklet/firmware/manifest.py
# Flash that image, then on the band's filesystem keep only main.py: a folder anklet_fw/ there
# would come first on sys.path and shadow the frozen modules (mpremote rm -r :anklet_fw).
#
# The list is every module of the package, so a new module is frozen without an edit here; the
# board image leaves out what only the virtual band imports. It is what `anklet flash` installs
# (flash.UNIX_ONLY is the same set; tests/test_fw_heap.py holds them equal). The 32-bit unix build
# (manifest_unix.py) includes this file with unix=True and freezes the whole package.
import os

options.defaults(unix=False)  # noqa: F821  (manifest functions are defined by MicroPython's build)

UNIX_ONLY = ("hw_unix.py", "sim.py")  # the virtual band's fake hardware

if not options.unix:  # noqa: F821
    include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821  (the port's own frozen modules: asyncio, aioble...)

package(  # noqa: F821
    "anklet_fw",
    files=sorted(n for n in os.listdir("anklet_fw") if n.endswith(".py") and (options.unix or n not in UNIX_ONLY)),  # noqa: F821
    base_path=".",
    opt=1,  # drop asserts; keep line numbers for tracebacks
)
