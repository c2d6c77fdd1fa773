# Entry point of the virtual band console: micropython -m vband_main (see anklet_vband.py).
import anklet_vband

anklet_vband.main()
