# Every target makes its own virtual environment on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo bench lint clean typecheck sysdeps soak

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

# The fault harness at length (400 rounds of radio cuts, kills, full and locked disks, deleted logs, clock steps)
# and the torture tests, for before a release; `make test` runs a CI-sized harness. ANKLET_SEED=N varies it.
soak: $(STAMP) sysdeps
	ANKLET_SOAK=1 $(BIN)/pytest -s tests/test_fault_harness.py tests/test_monitor_log_faults.py tests/test_ble_torture.py

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
typecheck: $(STAMP)
	$(BIN)/python firmware/typecheck.py

demo: $(STAMP)
	$(BIN)/anklet demo

bench: $(STAMP)
	$(BIN)/python -m anklet.bench

clean:
	rm -rf $(VENV) build *.egg-info
