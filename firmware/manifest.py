# Freezes the band's firmware into a MicroPython image: frozen bytecode runs from flash, so the
# heap keeps only the band's state and the module objects (docs/firmware.md, "Memory").
# In a MicroPython source tree, for the reference board:
#   make -C ports/esp32 BOARD=ESP32_GENERIC_S3 FROZEN_MANIFEST=/path/to/anklet/firmware/manifest.py
# Flash that image, then on the band's filesystem keep only main.py: a folder anklet_fw/ there
# would come first on sys.path and shadow the frozen modules (mpremote rm -r :anklet_fw).
# The list is what `anklet flash` installs on a board; tests/test_fw_heap.py holds them equal.
include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821  (the port's own frozen modules: asyncio, aioble...)

package(  # noqa: F821  (manifest functions are defined by MicroPython's build)
    "anklet_fw",
    files=[
        "__init__.py",
        "activity.py",
        "app.py",
        "band.py",
        "boards.py",
        "detector.py",
        "dsp.py",
        "episode.py",
        "event_fields.py",
        "eventq.py",
        "events.py",
        "feed.py",
        "flashdev.py",
        "flashlog.py",
        "hw_esp32.py",
        "imu.py",
        "imu_lsm6.py",
        "imu_mpu6886.py",
        "packet.py",
        "packet_host.py",
        "radio.py",
        "settings.py",
        "status.py",
    ],
    base_path=".",
    opt=1,  # drop asserts; keep line numbers for tracebacks
)
