# The band's program: build the hardware for this platform, then run the loop.
#
# main.py on the band (and in the virtual band's folder) is just:
#   from anklet_fw import app; app.main()
# On an ESP32 the hardware comes from hw_esp32.py (machine, esp32, bluetooth);
# on the unix port from hw_unix.py (fake IMU fed from a trace, flash in a file).
import gc
import sys

band = None  # the running Band, for inspection from the REPL after Ctrl-C


def platform_hw(platform=None):
    if (platform or sys.platform) in ("linux", "darwin"):
        from . import hw_unix as hw
    else:
        from . import hw_esp32 as hw  # type: ignore[no-redef]
    return hw


def forget(names):
    """Drop modules that only run at boot, so the heap gets their bytecode back for the night."""
    pkg = sys.modules.get("anklet_fw")
    for name in names:
        sys.modules.pop("anklet_fw." + name, None)
        if pkg is not None and hasattr(pkg, name):
            delattr(pkg, name)


def boot(board=None, platform=None):
    """Build the band for this platform (or the one named); return (band, flag, period_ms, radio, stop)."""
    global band
    hw = platform_hw(platform)
    band, flag, period_ms, radio = hw.build(board)
    stop = getattr(hw, "stop", None)
    forget(getattr(hw, "BOOT_ONLY", ()))
    del hw
    gc.collect()
    return band, flag, period_ms, radio, stop


def main(board=None):
    import asyncio

    b, flag, period_ms, radio, stop = boot(board)
    print(f"anklet: boot {b.boot_count} (reason {b.reset_reason}), queue {b.queue.depth()} events, "
          f"imu {b.imu.PART} at {b.settings['fs']} Hz")

    async def _run():
        if radio is not None:
            asyncio.create_task(radio.run())
        await b.run(period_ms, flag, stop)

    asyncio.run(_run())
    return b
