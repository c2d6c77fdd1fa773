# Every target makes its own virtual environment on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo bench lint clean typecheck sysdeps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check host firmware tests hardware
	$(BIN)/python firmware/typecheck.py

test: $(STAMP) sysdeps lint
	$(BIN)/pytest

# System packages the tests need: socat (the virtual band's pty), openscad (the enclosure model),
# chromium and chromium-driver (the bedside page in a real browser). CI runs as root on Debian.
SYSPKGS := socat openscad chromium chromium-driver
sysdeps:
	@missing=""; for p in $(SYSPKGS); do command -v $$p >/dev/null || dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing) \
		|| { echo "missing and could not be installed:$$missing (apt-get install$$missing)" >&2; exit 1; }; \
	fi

# The band firmware against the ESP32 MicroPython stubs (firmware/typecheck.py says how).
typecheck: $(STAMP)
	$(BIN)/python firmware/typecheck.py

# The bedside page is served for the night: its address (and a QR code) is printed first.
demo: $(STAMP)
	$(BIN)/anklet demo --web

bench: $(STAMP)
	$(BIN)/python -m anklet.bench

clean:
	rm -rf $(VENV) build *.egg-info
