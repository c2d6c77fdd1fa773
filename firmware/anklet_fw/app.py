# The band's program: build the hardware for this platform, then run the loop.
#
# main.py on the band (and in the virtual band's folder) is just:
#   from anklet_fw import app; app.main()
# On an ESP32 the hardware comes from hw_esp32.py (machine, esp32, bluetooth);
# on the unix port from hw_unix.py (fake IMU fed from a trace, flash in a file).
import sys

band = None  # the running Band, for inspection from the REPL after Ctrl-C


def platform_hw():
    if sys.platform in ("linux", "darwin"):
        from . import hw_unix as hw
    else:
        from . import hw_esp32 as hw  # type: ignore[no-redef]
    return hw


def main(board=None):
    import asyncio

    global band
    hw = platform_hw()
    band, flag, period_ms, radio = hw.build(board)
    print(f"anklet: boot {band.boot_count} (reason {band.reset_reason}), queue {band.queue.depth()} events, "
          f"imu {band.imu.PART} at {band.settings['fs']} Hz")

    async def _run():
        if radio is not None:
            asyncio.create_task(radio.run())
        await band.run(period_ms, flag, getattr(hw, "stop", None))

    asyncio.run(_run())
    return band
