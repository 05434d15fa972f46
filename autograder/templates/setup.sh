#!/usr/bin/env bash
# Gradescope: runs once, as root, when the autograder image is built (Ubuntu 22.04 base image).
# The zip built by `autograder export gradescope` is unpacked in /autograder/source.
#
#  * bubblewrap and libseccomp2 for the sandbox (the grader falls back to Landlock and its own
#    namespaces where bubblewrap cannot run, and refuses to grade if a promise cannot be kept:
#    the student then sees why);
#  * Python 3.11 and a virtual environment at /autograder/source/.venv with the grading runtime
#    only (`pip install -e source`: torch==2.13.0 CPU build, numpy, pytest, pydantic ...), at the
#    versions pinned in constraints.txt;
#  * an unprivileged user `grader`: run_autograder grades as that user, never as root.
#
# Environment (defaults are Gradescope's; autograder/tests/test_platforms.py sets them to run
# this script for real on another machine):
#   AUTOGRADER_ROOT          /autograder (the zip is unpacked in $AUTOGRADER_ROOT/source)
#   AUTOGRADER_SETUP_PYTHON  the Python to build the venv with (default: python3.11, installed
#                            with apt-get if missing, then the deadsnakes PPA, then any >= 3.11)
#   TORCH_INDEX              extra pip index for torch's CPU build (default
#                            https://download.pytorch.org/whl/cpu); empty: no extra index
#   AUTOGRADER_USER          the user that grades (default grader); created here if missing
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
SRC="$ROOT/source"
VENV="$SRC/.venv"
TORCH_INDEX="${TORCH_INDEX-https://download.pytorch.org/whl/cpu}"  # (set but empty: none)
RUN_AS="${AUTOGRADER_USER:-grader}"
SETUP_PYTHON="${AUTOGRADER_SETUP_PYTHON:-}"
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

log() { echo "setup.sh: $*" >&2; }

apt_install() {
    # Succeeds only if every package could be installed.
    apt-get install -y --no-install-recommends "$@"
}

log "installing system packages"
apt-get update -y
apt_install ca-certificates
# runuser (util-linux) and useradd (passwd) are in every Ubuntu image; install them if not.
command -v runuser >/dev/null 2>&1 || apt_install util-linux || true
command -v useradd >/dev/null 2>&1 || apt_install passwd || true
apt_install bubblewrap || log "WARNING: bubblewrap could not be installed; the grader will rely on Landlock"
# The sandbox's seccomp filter (pyseccomp loads it); without it the grader refuses to grade.
apt_install libseccomp2 || log "WARNING: libseccomp2 could not be installed; grading will stop with the reason"

python_ok() {  # python_ok EXE: EXE runs and is Python >= 3.11
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null
}

find_python() {
    local exe
    for exe in python3.11 python3.12 python3.13 python3; do
        if command -v "$exe" >/dev/null 2>&1 && python_ok "$(command -v "$exe")"; then
            command -v "$exe"
            return 0
        fi
    done
    return 1
}

# The pins in constraints.txt were resolved on Python 3.11: prefer it, then any newer one.
PY=""
if [ -n "$SETUP_PYTHON" ]; then
    PY="$SETUP_PYTHON"
    python_ok "$PY" || { log "ERROR: AUTOGRADER_SETUP_PYTHON=$PY is not a Python >= 3.11"; exit 1; }
elif command -v python3.11 >/dev/null 2>&1; then
    PY="$(command -v python3.11)"
elif apt_install python3.11 python3.11-venv python3.11-dev; then
    PY="$(command -v python3.11)"
elif apt_install software-properties-common gnupg \
        && add-apt-repository -y ppa:deadsnakes/ppa && apt-get update -y \
        && apt_install python3.11 python3.11-venv python3.11-dev; then
    PY="$(command -v python3.11)"
else
    PY="$(find_python || true)"
    [ -n "$PY" ] && log "WARNING: Python 3.11 could not be installed; using $PY ($("$PY" -V 2>&1))"
fi
if [ -z "$PY" ] || ! python_ok "$PY"; then
    log "ERROR: no Python >= 3.11 available; the autograder needs Python 3.11"
    exit 1
fi
PYVER="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
log "using $PY (Python $PYVER)"

# Debian/Ubuntu ship venv (ensurepip) separately.
if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c 'import ensurepip' >/dev/null 2>&1; then
    apt_install "python$PYVER-venv" || apt_install python3-venv || true
fi

log "creating $VENV"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --upgrade pip
index=()
if [ -n "$TORCH_INDEX" ]; then
    index=(--extra-index-url "$TORCH_INDEX")
fi
"$VENV/bin/python" -m pip install -c "$SRC/constraints.txt" ${index[@]+"${index[@]}"} -e "$SRC"
"$VENV/bin/python" -c 'import torch, autograder; print("torch", torch.__version__, "autograder from", autograder.__file__)'

# Grading runs as this user (run_autograder); it only needs to read the source. No home: the
# grader gets a private temporary folder as HOME for each submission.
if ! id -u "$RUN_AS" >/dev/null 2>&1; then
    log "creating the user $RUN_AS"
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_AS" \
        || useradd --system --no-create-home --shell /bin/false "$RUN_AS"
fi
# Byte-code compiled now: the grader cannot write into the source folder.
"$VENV/bin/python" -m compileall -q -x '/\.venv/' "$SRC" >/dev/null 2>&1 || true
chmod -R a+rX "$SRC"
chmod 755 "$SRC/run_autograder" 2>/dev/null || true

# Which sandbox the grader will get here, as the user it runs as (reported, not fatal:
# run_autograder tells the student when grading cannot run).
CHECK='from autograder.sandbox import isolation; p = isolation.detect(); print("setup.sh: sandbox for user", __import__("getpass").getuser(), p.summary())'
if command -v runuser >/dev/null 2>&1 && id -u "$RUN_AS" >/dev/null 2>&1; then
    (cd "$SRC" && runuser -u "$RUN_AS" -- env HOME=/tmp "$VENV/bin/python" -c "$CHECK") || true
else
    (cd "$SRC" && "$VENV/bin/python" -c "$CHECK") || true
fi
log "done"
