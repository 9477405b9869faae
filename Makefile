# Self-documenting targets: `make help` lists them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Stage commands in dvc.yaml call `python`: it must be the project's interpreter.
export PATH := $(BIN):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup repro test lint lock cache-verify

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

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

lock: ## recompile requirements.txt (pins + hashes) from requirements.in
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links -o requirements.txt requirements.in

# DVC trusts a write-protected cache object without re-hashing it, so bit rot or an edit in place
# goes unnoticed by `dvc status`; this re-hashes every object and names those whose MD5 differs
# from their file name (README, "Recovering from failures", says how to repair them).
cache-verify: ## re-hash every object in .dvc/cache and list the damaged ones
	@cd .dvc/cache/files/md5 && find . -type f -exec md5sum {} + | awk '\
		{ name = substr($$2, 3); sub(/\.dir$$/, "", name); gsub("/", "", name) } \
		name != $$1 { print "damaged: .dvc/cache/files/md5/" substr($$2, 3); bad = 1 } \
		END { if (bad) print "remove them, then `dvc fetch` (or `dvc repro`)"; exit bad }'
