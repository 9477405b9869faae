# Self-documenting targets: `make help` lists them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Stage commands in dvc.yaml call `python`: it must be the project's interpreter.
export PATH := $(BIN):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup setup-mlflow mlflow-sync mlflow-ui repro test test-fast lint lock bench-search serve \
	exp-show sweep report cache-verify docs docs-serve

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

setup: $(VENV)/.installed .dvc/config.local ## create .venv with the pinned, hash-checked requirements

$(VENV)/.installed: requirements.txt requirements-corpus.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.txt
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-corpus.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The default remote `local` as an absolute URL in this clone's config.local (git ignores it):
# .dvc/config's relative `../../regpipe-dvc-storage`, read from another commit (`dvc push
# --all-tags`, `dvc artifacts get`), resolves against another base. Kept if it exists; `setup`
# lists it after the venv, whose dvc it runs.
.dvc/config.local:
	dvc remote modify --local local url "$(abspath $(CURDIR)/..)/regpipe-dvc-storage"

setup-mlflow: $(VENV)/.installed-mlflow ## add the optional MLflow extra (requirements-mlflow.txt)

$(VENV)/.installed-mlflow: $(VENV)/.installed requirements-mlflow.txt
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.txt -r requirements-mlflow.txt
	touch $@

mlflow-sync: setup-mlflow ## log runs and the registry to MLflow (ARGS="--tracking-uri URI")
	regpipe-mlflow sync $(ARGS)

# The web UI needs the full `mlflow` package, whose pins (pyarrow<26) exclude the project's
# pyarrow: it gets a venv of its own and only reads the store that `make mlflow-sync` wrote.
UI_VENV := .venv-mlflow-ui
mlflow-ui: ## the MLflow web UI on the default store (own venv: requirements-mlflow-ui.txt)
	test -x $(UI_VENV)/bin/python || $(PYTHON) -m venv $(UI_VENV)
	$(UI_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements-mlflow-ui.txt
	$(UI_VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db $(ARGS)

repro: setup ## run the whole pipeline with dvc repro
	dvc repro

# Every test, one pytest-xdist worker per core; a module whose fixtures start a server or build
# an image stays on one worker (xdist_group). tests/README.md lists the tiers and their cost.
test: setup setup-mlflow ## run the whole test suite on every core (with the MLflow extra)
	python -m pytest -n auto --dist loadgroup

# The unit tier without its heavy tests, each property on a few hypothesis examples; a worker
# per core (each pays the ~10 s of imports, the tests split). tests/README.md, "Tiers".
test-fast: setup ## pure functions only (the unit tier, not heavy), in seconds
	python -m pytest -m "unit and not heavy" -q -n auto --hypothesis-profile fast

lint: setup ## ruff check and format check
	ruff check .
	ruff format --check .

bench-search: setup ## the alpha-search benchmark: fast search vs GridSearchCV (bench/README.md)
	python bench/search.py --all

lock: ## recompile the hashed pins (requirements*.txt) from requirements*.in
	$(BIN)/python -m pip install --quiet pip-tools
	for name in requirements requirements-serve requirements-mlflow requirements-mlflow-ui \
		requirements-docs; do \
		$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
			--no-emit-index-url --no-emit-find-links -o $$name.txt $$name.in || exit 1; \
	done

serve: setup ## serve the prod model over HTTP (params.yaml `serve`; ARGS="--port 9000 --workspace")
	python -m regpipe.serve serve $(ARGS)

# Experiments, sweeps and the pull-request report (docs/experiments.md).
# The columns of `dvc exp show` that matter for an alpha sweep, so the table fits a terminal.
EXP_COLUMNS := ^(Experiment|train_ridge\.alpha|metrics/train_ridge\.json:cv_rmse_mean|models\.ridge\.rmse|champion)$$
ALPHAS ?= 0.01,0.1,1,10,100
BASE ?= main

exp-show: setup ## dvc exp show with only the sweep's params and metrics as columns
	dvc exp show --no-pager --drop '.*' --keep '$(EXP_COLUMNS)'

sweep: setup ## queue train_ridge.alpha=ALPHAS, run 2 at a time, print the leaderboard + plot
	dvc exp run --queue -S 'train_ridge.alpha=$(ALPHAS)'
	dvc queue start -j 2
	regpipe-sweep --wait

report: setup ## the pull-request report against BASE (default main) into report.md
	regpipe-report --base $(BASE) --out report.md $(if $(PLOTS_URL),--plots-url '$(PLOTS_URL)')

# DVC trusts a write-protected cache object without re-hashing it, so bit rot or an edit in place
# goes unnoticed by `dvc status`; this re-hashes every object and names those whose MD5 differs
# from their file name (docs/recovery.md says how to repair them).
cache-verify: ## re-hash every object in .dvc/cache and list the damaged ones
	@cd .dvc/cache/files/md5 && find . -type f -exec md5sum {} + | awk '\
		{ name = substr($$2, 3); sub(/\.dir$$/, "", name); gsub("/", "", name) } \
		name != $$1 { print "damaged: .dvc/cache/files/md5/" substr($$2, 3); bad = 1 } \
		END { if (bad) print "remove them, then `dvc fetch` (or `dvc repro`)"; exit bad }'

# The documentation site (mkdocs.yml, docs/) in a venv of its own, like the MLflow UI: `make setup`
# stays what the pipeline and the tests need, and mkdocs' Markdown/Jinja pins never meet the
# project's. --strict turns every warning (a broken link or anchor, a page not in nav) into failure
# (not with --quiet: it hides the warnings --strict counts).
DOCS_VENV := .venv-docs
docs: $(DOCS_VENV)/.installed ## build the documentation site into site/ (mkdocs build --strict)
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict

docs-serve: $(DOCS_VENV)/.installed ## preview the site on 127.0.0.1:8001, rebuilt on every edit
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs serve --strict --dev-addr 127.0.0.1:8001

$(DOCS_VENV)/.installed: requirements-docs.txt
	test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements-docs.txt
	touch $@
