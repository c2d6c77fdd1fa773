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

test: $(STAMP) sysdeps lint
	$(BIN)/pytest

# System packages the tests need: socat (the virtual band's pty). CI runs as root on Debian.
sysdeps:
	@command -v socat >/dev/null || (apt-get update -qq && apt-get install -y -qq socat) || \
		(echo "socat is missing and could not be installed: apt-get install socat" >&2; exit 1)

# The band firmware against the ESP32 MicroPython stubs (firmware/typecheck.py says how).
typecheck: $(STAMP)
	$(BIN)/python firmware/typecheck.py

demo: $(STAMP)
	$(BIN)/anklet demo

bench: $(STAMP)
	$(BIN)/python -m anklet.bench

clean:
	rm -rf $(VENV) build *.egg-info
