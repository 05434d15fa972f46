# The README's two commands are the contract: `make grade` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup grade test test-tiers stubs check bench gpu-check gpu-wheels locale clean

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

# Grader, batch, nbgrader, memory and timing-harness figures into docs/performance.md (~12 min;
# BENCH_ARGS=--quick for ~2 min).
locale: setup
	$(BIN)/python -m autograder.translations

bench: setup
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# The GPU run (benchmarks/gpu_check.py, docs/gpu.md): on a machine with a CUDA GPU, with that
# machine's own python3 and torch; elsewhere on the simulated GPU (make test runs it so).
GPU_OUT ?= out/gpu-check
gpu-check:
	@if python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then \
		bash benchmarks/gpu_check.sh $(GPU_OUT); else $(MAKE) --no-print-directory setup && bash benchmarks/gpu_check.sh $(GPU_OUT); fi

# The wheels the GPU machine lacks (its image has no pydantic; nothing can be fetched there), for
# Python 3.12 on x86-64, into .whl/ (git-ignored; the device tool carries it).
GPU_WHEELS := pydantic pydantic_core annotated-types typing-inspection typing_extensions pyseccomp
gpu-wheels:
	python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
		$$(for p in $(GPU_WHEELS); do grep -i "^$$p==" constraints.txt; done)

clean:
	rm -rf $(VENV) out .pytest_cache
