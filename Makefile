# Two entry points, both doing all set-up on a fresh machine (Python 3.11 + make):
#   make train   set up .venv, train on $QINGLANG_DATA_DIR (or the demo set), evaluate, log to MLflow, register
#   make test    set up .venv and run the test suite
#   make lint    ruff lint + format check (CI runs it before the tests)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: train test lint format setup lock browser ui bench report clean

# constraints.txt pins every package to one tested set of versions, the one CI and the benchmarks run
# (a scikit-learn, numpy or scipy release can move fitted models and their metrics in the last digits).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[dev,spark]'
	touch $(STAMP)

setup: $(STAMP)

# Re-pin constraints.txt to what pyproject.toml's ranges resolve to today, in a scratch venv;
# then `make test` and the benchmarks whose figures the docs quote.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev,spark]'
	{ head -n 2 constraints.txt; .lock-venv/bin/pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .lock-venv

train: $(STAMP)
	$(VENV)/bin/qinglang train --out runs/latest $(ARGS)

# Debian's chromium for the labeling page's browser tests (installed when missing and root).
browser:
	@bash scripts/ensure-chromium.sh

test: $(STAMP) browser
	$(VENV)/bin/python -m pytest $(ARGS)

# ruff: lint and format check (configured in pyproject.toml); `make format` rewrites.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

MODEL ?= runs/latest/bundle
# The model of the same run fitted before dev was: the one to check against dev labels.
SELECTION_MODEL ?= runs/latest/selection_bundle
bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_inprocess.py --model $(MODEL) --json runs/bench-inprocess.json
	$(VENV)/bin/python benchmarks/bench_http.py --model $(MODEL) --json runs/bench-http.json
	$(VENV)/bin/python benchmarks/bench_batch.py --model $(MODEL) --json runs/bench-batch.json
	$(VENV)/bin/python benchmarks/bench_robustness.py --model $(MODEL) --json runs/bench-robustness.json
	$(VENV)/bin/python benchmarks/bench_rerank.py --model $(MODEL) --json runs/bench-rerank.json
	$(VENV)/bin/python benchmarks/bench_audit.py --model $(SELECTION_MODEL) --out runs/audit --json runs/bench-audit.json
	$(VENV)/bin/python benchmarks/title_judgments.py --model $(SELECTION_MODEL) --json runs/title-judgments.json

# Evaluation reports, logged to MLflow (needs QINGLANG_DATA_DIR, after make train): the
# registered candidate on the COLD test split, and on the labeled trending dev split the
# model of the same run that was fitted before dev was (the candidate is refitted on it).
REPORT_MODEL ?= models:/qinglang@candidate
report: $(STAMP)
	$(VENV)/bin/qinglang evaluate --model $(REPORT_MODEL) --source cold --split test --out runs/report-cold-test
	$(VENV)/bin/qinglang evaluate --model $(SELECTION_MODEL) --source weibo_trending_labeled --split dev --out runs/report-trending-dev

ui: $(STAMP)
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db

clean:
	rm -rf $(VENV) runs mlflow.db mlruns mlartifacts .pytest_cache
