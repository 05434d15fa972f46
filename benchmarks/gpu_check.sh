#!/usr/bin/env bash
# `make gpu-check [GPU_OUT=DIR]`: benchmarks/gpu_check.py where torch sees a CUDA GPU, else the
# same run on the simulated GPU (as `make test` runs it). On the course's GPU machine (its own
# python3 and torch, no network, no pydantic): the wheels `make gpu-wheels` put in .whl/ are
# installed with --no-deps, then the kit itself, so that machine's torch stays as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/gpu-check}
shift || true  # (the rest goes to benchmarks/gpu_check.py, e.g. --work DIR)
gpu_python=${GPU_PYTHON:-python3}

if command -v "$gpu_python" >/dev/null \
        && "$gpu_python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu-check: $("$gpu_python" -c 'import torch; print(torch.cuda.get_device_name(0), "· torch", torch.__version__)')"
    missing=$("$gpu_python" - <<'PY'
import importlib.util
print(" ".join(m for m in ("pydantic", "annotated_types", "typing_inspection", "pyseccomp", "yaml", "rich", "pytest",
                           "pytest_timeout") if importlib.util.find_spec(m) is None))
PY
)
    if [ -n "$missing" ]; then
        ls .whl/*.whl >/dev/null 2>&1 || { echo "gpu-check: $missing missing here and no wheels in .whl/ (run make gpu-wheels where pip works, then carry .whl)" >&2; exit 2; }
        echo "gpu-check: installing the carried wheels for: $missing"
        if ! "$gpu_python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade .whl/*.whl; then
            # (an image whose environment is read-only: beside it, on PYTHONPATH)
            "$gpu_python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu-check-site .whl/*.whl
            export PYTHONPATH=/tmp/gpu-check-site${PYTHONPATH:+:$PYTHONPATH}
        fi
    fi
    "$gpu_python" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir -e . \
        || echo "gpu-check: the kit did not install (above); running it from the checkout"
    # No bubblewrap there, and perhaps no Landlock (gVisor): the weakest tier, allowed for these
    # fixtures only (the reference and known mistakes, never a student's code); the report says
    # which promises did not hold.
    exec "$gpu_python" -m benchmarks.gpu_check "$out" --sandbox landlock --allow-weak-sandbox "$@"
fi
echo "gpu-check: no CUDA GPU here: the simulated GPU"
exec "${VENV_PYTHON:-.venv/bin/python}" -m benchmarks.gpu_check "$out" --simulate "$@"
