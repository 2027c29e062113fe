# Two entry points (see README): `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup system-deps postgres lint bench clean

demo: setup
	$(BIN)/complaints demo

test: setup postgres
	$(BIN)/ruff check .
	$(BIN)/pytest

setup: system-deps $(VENV)/.installed

system-deps:
	@bash scripts/install-system-deps.sh

postgres:
	@bash scripts/ensure-postgres.sh

# Reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf var
