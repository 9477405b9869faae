# Self-documenting targets: `make help` lists them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Stage commands in dvc.yaml call `python`: it must be the project's interpreter.
export PATH := $(BIN):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup repro test lint lock bench-search serve

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

setup: $(VENV)/.installed ## create .venv with the pinned, hash-checked requirements

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

repro: setup ## run the whole pipeline with dvc repro
	dvc repro

test: setup ## run the test suite
	python -m pytest

lint: setup ## ruff check and format check
	ruff check .
	ruff format --check .

bench-search: setup ## the alpha-search benchmark: fast search vs GridSearchCV (bench/README.md)
	python bench/search.py --all

lock: ## recompile the hashed pins (requirements*.txt) from requirements*.in
	$(BIN)/python -m pip install --quiet pip-tools
	for name in requirements requirements-serve; do \
		$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
			--no-emit-index-url --no-emit-find-links -o $$name.txt $$name.in || exit 1; \
	done

serve: setup ## serve the prod model over HTTP (params.yaml `serve`; ARGS="--port 9000 --workspace")
	python -m regpipe.serve serve $(ARGS)
