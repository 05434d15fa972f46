# The README's two commands are the contract: `make grade` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup grade test test-tiers stubs check bench locale clean

setup: $(STAMP)

# Re-runs only when the dependency pins change; every version comes from constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[author,test]'
	@touch $(STAMP)

grade: setup
	$(BIN)/autograder grade-examples

# Every test: the sandbox tests in one process, the others beside them (autograder/tests/parallel.py).
test: setup
	$(BIN)/python -m autograder.tests.parallel

# The sandbox's promises in every tier this machine has (also part of `make test`).
test-tiers: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -rs autograder/tests/test_tiers.py autograder/tests/test_sandbox.py autograder/tests/test_reuse.py

stubs: setup
	$(BIN)/autograder stubs

check: setup
	$(BIN)/autograder check

# Grader, batch, nbgrader, memory and timing-harness figures into docs/performance.md (~7 min;
# BENCH_ARGS=--quick for ~2 min).
locale: setup
	$(BIN)/python -m autograder.translations

bench: setup
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) out .pytest_cache
