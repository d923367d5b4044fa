# Two commands for a newcomer: `make chat` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: chat slack discord test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.run

chat: $(VENV)/.run  ## set up and chat with the bot in this terminal (SQLite, no tokens)
	$(BIN)/kneebot chat

slack: $(VENV)/.run  ## run the Slack app (Socket Mode; tokens in .env, see README)
	$(BIN)/kneebot slack

discord: $(VENV)/.run  ## run the Discord bot (DISCORD_TOKEN in .env, see README)
	$(BIN)/kneebot discord --sync

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint  ## set up, lint, type-check and run every test
	$(BIN)/python -m pytest -n auto

bench: $(VENV)/.dev  ## benchmarks, each figure against a baseline from the same run
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
