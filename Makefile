# Every target makes its own virtual environment on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: anklet and what it runs on (all `make demo` needs), then the development toolchain on top
# (tests, lint, bench).
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: test demo bench lint clean typecheck sysdeps

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

test: $(DEV_STAMP) sysdeps lint
	$(BIN)/pytest

# System packages the tests need: socat (the virtual band's pty), openscad (the enclosure model).
# CI runs as root on Debian.
SYSPKGS := socat openscad
sysdeps:
	@missing=""; for p in $(SYSPKGS); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing) \
		|| { echo "missing and could not be installed:$$missing (apt-get install$$missing)" >&2; exit 1; }; \
	fi

# The band firmware against the ESP32 MicroPython stubs (firmware/typecheck.py says how).
typecheck: $(DEV_STAMP)
	$(BIN)/python firmware/typecheck.py

demo: $(STAMP)
	$(BIN)/anklet demo

bench: $(DEV_STAMP)
	$(BIN)/python -m anklet.bench

clean:
	rm -rf $(VENV) build *.egg-info
