#!/usr/bin/env bash
# The sandbox tiers once more as a normal user (no cgroups, no uid of its own, user namespaces):
# a copy of this clone in the user's home, a venv of the system's Python, `make test-tiers`.
set -euo pipefail
cd "$(dirname "$0")/.."
USER_NAME=autograder-ci
# A Python every user can run (not a pyenv under /root): the system's.
PY=$(PATH=/usr/local/bin:/usr/bin:/bin; command -v python3.11 || command -v python3)
id "$USER_NAME" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$USER_NAME"
HOME_DIR=$(getent passwd "$USER_NAME" | cut -d: -f6)
rm -rf "$HOME_DIR/repo"
git clone -q --no-hardlinks "$PWD" "$HOME_DIR/repo"
# The working tree as it is (CI runs on a clean clone, so this equals the commit).
git ls-files -z | xargs -0 -I{} cp --parents -p {} "$HOME_DIR/repo/" 2>/dev/null || true
chown -R "$USER_NAME:" "$HOME_DIR/repo"
echo "== sandbox tiers as $USER_NAME (uid $(id -u "$USER_NAME")), $("$PY" --version)"
runuser -u "$USER_NAME" -- env HOME="$HOME_DIR" PATH=/usr/local/bin:/usr/bin:/bin \
  make -C "$HOME_DIR/repo" test-tiers PYTHON="$PY"
