# fpbot — the two commands a person needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: the bot for real when credentials are set, else the local sandbox
run: $(STAMP)
	$(BIN)/fpbot run

## test: lint, format check, types, then every test
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

## screenshots: refresh the README's pictures of the sandbox console
screenshots: $(STAMP)
	FPBOT_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q -m browser tests/browser

## bench: every benchmark, figures printed
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
