# Keepgate. `make run` serves on http://localhost:8000 with SQLite; `make test` runs every suite.
# `make run` installs only what the service needs (requirements-runtime.lock); the other targets
# add the development tools (requirements.lock). `make lock` regenerates both from
# pyproject.toml with the same pins (needs `uv`: pip install uv; UV_PYTHON_DOWNLOADS=never).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV ?= uv
COMPILE := $(UV) pip compile pyproject.toml --generate-hashes --python-version 3.11

.PHONY: run test install install-runtime migrate lint audit typecheck bench lock clean

install:
	@$(PYTHON) scripts/bootstrap.py dev

install-runtime:
	@$(PYTHON) scripts/bootstrap.py runtime

run: install-runtime
	@$(BIN)/keepgate migrate
	@$(BIN)/keepgate serve

migrate: install-runtime
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

lock:
	UV_PYTHON_DOWNLOADS=never $(COMPILE) --group dev -o requirements.lock
	UV_PYTHON_DOWNLOADS=never $(COMPILE) --group build -c requirements.lock \
		-o requirements-runtime.lock

clean:
	rm -rf $(VENV) var/ .pytest_cache .mypy_cache .ruff_cache
