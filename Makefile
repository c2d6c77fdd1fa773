# Every target makes its own virtual environment on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: anklet and what it runs on (all `make demo` needs), then the development toolchain on top
# (tests, lint, bench).
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: test demo bench lint clean typecheck sysdeps band32 soak train FORCE

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(DEV_STAMP)

lint: $(DEV_STAMP)
	$(BIN)/ruff check host firmware tests hardware
	$(BIN)/python firmware/typecheck.py

test: $(DEV_STAMP) sysdeps lint band32
	$(BIN)/pytest

# The fault harness at length (400 rounds of radio cuts, kills, full and locked disks, deleted logs, clock steps)
# and the torture tests, for before a release; `make test` runs a CI-sized harness. ANKLET_SEED=N varies it.
soak: $(DEV_STAMP) sysdeps
	ANKLET_SOAK=1 $(BIN)/pytest -s tests/test_fault_harness.py tests/test_monitor_log_faults.py tests/test_ble_torture.py

# System packages the tests need: socat (the virtual band's pty), openscad (the enclosure model),
# chromium and chromium-driver (the bedside page in a real browser), mosquitto (the MQTT broker the Home Assistant
# output is tested against), and gcc-multilib (gcc -m32, for the 32-bit MicroPython below). CI runs as root on Debian.
SYSPKGS := socat openscad chromium chromium-driver mosquitto gcc-multilib
sysdeps:
	@missing=""; for p in $(SYSPKGS); do command -v $$p >/dev/null \
		|| dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q ' installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing) \
		|| { echo "missing and could not be installed:$$missing (apt-get install$$missing)" >&2; exit 1; }; \
	fi

# The band firmware against the ESP32 MicroPython stubs (firmware/typecheck.py says how).
typecheck: $(DEV_STAMP)
	$(BIN)/python firmware/typecheck.py

# The bedside page is served for the night: its address (and a QR code) is printed first.
demo: $(STAMP)
	$(BIN)/anklet demo --web

bench: $(DEV_STAMP) band32
	$(BIN)/python -m anklet.bench

# The seizure score's trees, learned again from ../shared/realdata and simulated nights (fixed seeds:
# the same data gives the same firmware/anklet_fw/seizure_model.py), with grouped cross-validation.
train: $(DEV_STAMP)
	$(BIN)/python -m anklet.train --cv

# The band's firmware frozen into a 32-bit MicroPython unix port (firmware/manifest_unix.py): the
# interpreter closest to the band that runs here. Built from MicroPython's source (../shared/micropython,
# or a checkout of your own: make band32 MICROPY_SRC=$HOME/src/micropython) in a copy under build/, once,
# and again whenever a firmware file or a manifest changes. Without a source it says so and the tests
# that need it are skipped (README.md, "MicroPython's source").
MICROPY_SRC ?= ../shared/micropython
BAND32 := build/band32/micropython
MPY_COPY := build/micropython
MPY_PORT := $(MPY_COPY)/ports/unix
FW_SOURCES := $(sort $(wildcard firmware/anklet_fw/*.py firmware/vband/*.py)) firmware/manifest.py \
	firmware/manifest_unix.py
MPY_FLAGS := VARIANT=standard BUILD=build-band32 CFLAGS_EXTRA=-m32 LDFLAGS_EXTRA=-m32 MICROPY_PY_BTREE=0 \
	MICROPY_PY_SSL=0 MICROPY_PY_FFI=0 MICROPY_PY_THREAD=0 MPY_LIB_DIR=$(abspath build/mpylib-stub) \
	FROZEN_MANIFEST=$(abspath firmware/manifest_unix.py)

band32:
	@if [ -f "$(MICROPY_SRC)/py/mpconfig.h" ]; then $(MAKE) --no-print-directory $(BAND32); \
	else echo "band32: no MicroPython source at MICROPY_SRC=$(MICROPY_SRC) (README.md says where to get it)"; \
		for f in $(FW_SOURCES) Makefile; do [ ! $$f -nt $(BAND32) ] || rm -f $(BAND32); done; \
		echo "$(FW_SOURCES)" | cmp -s - build/band32/sources.lst || rm -f $(BAND32); \
		[ -f $(BAND32) ] || echo "band32: the tests that need the frozen 32-bit build will be skipped"; fi

# The copy is made again when MICROPY_SRC names another tree.
$(MPY_COPY)/.source: FORCE
	@src="$$(cd $(MICROPY_SRC) && pwd)"; if [ "$$(cat $@ 2>/dev/null)" != "$$src" ]; then \
		echo "copying MicroPython's source from $$src to $(MPY_COPY)"; rm -rf $(MPY_COPY) && mkdir -p $(MPY_COPY)/ports \
		&& for d in py extmod shared mpy-cross tools drivers lib LICENSE; do cp -r "$$src/$$d" $(MPY_COPY)/; done \
		&& cp -r "$$src/ports/unix" $(MPY_PORT) && echo "$$src" > $@; fi

# The list of firmware files, rewritten only when a file comes or goes (a removed module rebuilds too).
build/band32/sources.lst: FORCE
	@mkdir -p $(@D); echo "$(FW_SOURCES)" | cmp -s - $@ || echo "$(FW_SOURCES)" > $@

$(BAND32): $(FW_SOURCES) build/band32/sources.lst $(MPY_COPY)/.source Makefile
	mkdir -p build/mpylib-stub && echo "a manifest without require()" > build/mpylib-stub/README.md
	$(MAKE) -s -C $(MPY_COPY)/mpy-cross -j2
	$(MAKE) -s -C $(MPY_PORT) -j2 $(MPY_FLAGS)
	cp $(MPY_PORT)/build-band32/micropython $@.tmp && mv -f $@.tmp $@  # a running copy (a virtual band) keeps its file
	@test "$$(od -An -tx1 -j4 -N1 $@ | tr -d " ")" = 01 || { echo "$@ is not a 32-bit ELF binary" >&2; rm -f $@; exit 1; }

FORCE:

clean:
	rm -rf $(VENV) build *.egg-info
