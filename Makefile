# Every target makes its own virtual environment on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check host firmware tests hardware

test: $(STAMP) lint
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/anklet demo

bench: $(STAMP)
	$(BIN)/python -m anklet.bench

clean:
	rm -rf $(VENV) build *.egg-info
