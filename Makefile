# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench-export bench-cleanup serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[postgres,mariadb,dev]'
	touch $(STAMP)

install: $(STAMP)

## Set up the embedded SQLite database under var/, seed it, and run the main job on it.
demo: $(STAMP)
	$(BIN)/baskets demo

## Run the tests on SQLite, PostgreSQL and MariaDB (servers that do not answer are skipped,
## except under CI=true, where they fail).
test: $(STAMP)
	$(BIN)/pytest -q -ra $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy baskets config

bench-export: $(STAMP)
	$(BIN)/python bench/export.py

bench-cleanup: $(STAMP)
	$(BIN)/python bench/cleanup.py

serve: $(STAMP)
	$(BIN)/baskets serve

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .hypothesis
