# Keepgate. `make run` serves on http://127.0.0.1:8000 with SQLite; `make test` runs every suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install migrate lint audit typecheck bench clean

install:
	@$(PYTHON) scripts/bootstrap.py

run: install
	@$(BIN)/keepgate migrate
	@$(BIN)/keepgate serve

migrate: install
	@$(BIN)/keepgate migrate

test: install
	@$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	@$(BIN)/ruff check keepgate tests bench scripts
	@$(BIN)/mypy

audit: install
	@$(BIN)/python scripts/audit.py

bench: install
	@$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) var/ .pytest_cache .mypy_cache .ruff_cache
