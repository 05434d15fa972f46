"""Fixtures for the grader's own tests: submissions built from the reference with one change."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from autograder.examples import materialize
from autograder.sandbox import isolation


def make_submission(dest: Path, replace: dict[str, str] | None = None, append: dict[str, str] | None = None,
                    extra_files: dict[str, str] | None = None) -> Path:
    """The reference solutions; `replace` maps a module to a whole new source, `append` adds
    code at the end of a module, `extra_files` adds other files to the folder."""
    modules = {k: {"source": v} for k, v in (replace or {}).items()}
    for k, v in (append or {}).items():
        modules.setdefault(k, {})["append"] = v
    return materialize(dest, modules, extra_files)


@pytest.fixture(autouse=True)
def _grader_env_restored():
    """A grading in this process hides the GPU from it (client.keep_cuda_out_of_grader): not from
    the tests after it (on a GPU machine they would see none)."""
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    yield
    if before is None:
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = before


@pytest.fixture
def submission(tmp_path):
    def build(**kwargs) -> Path:
        return make_submission(tmp_path / "submission", **kwargs)
    return build


# Student code for sandbox tests: run `action` (a call that must fail harmlessly) and say
# "done" or the name of the errno it failed with.
ATTEMPT = r'''
import errno as _errno


def _attempt(action):
    try:
        action()
        return "done"
    except OSError as exc:
        return _errno.errorcode.get(exc.errno, str(exc.errno))
'''


needs_strong_sandbox = pytest.mark.skipif(
    not isolation.detect().filesystem_isolated,
    reason="this machine has neither bubblewrap nor Landlock; the grader refuses to run here")


TIER_PARAMS = ["bubblewrap", "landlock", "landlock-plain"]


def plain_protections() -> isolation.Protections:
    """The Landlock tier as a container without namespaces gets it: seccomp and Landlock alone."""
    try:
        full = isolation.detect("landlock")
    except isolation.SandboxUnavailable as exc:
        pytest.skip(str(exc))
    if full.landlock_abi < 1:
        pytest.skip("Landlock is not available on this kernel")
    if full.root and isolation.unreachable_python():
        pytest.skip("as root without namespaces the sandbox uid must reach Python, but here "
                    f"{isolation.unreachable_python()} (the grader refuses to run so: tested elsewhere)")
    return dataclasses.replace(full, namespaces=False, bubblewrap=False, notes=["namespaces off (test)"])


@pytest.fixture(params=TIER_PARAMS)
def tier(request, monkeypatch) -> str:
    """Run a test in each tier: bubblewrap, Landlock with its own namespaces, and Landlock alone
    (where a container allows no namespaces). A tier this machine lacks is skipped, with why."""
    name = request.param
    base = "bubblewrap" if name == "bubblewrap" else "landlock"
    monkeypatch.setenv(isolation.TIER_ENV, base)
    if name == "landlock-plain":
        plain = plain_protections()
        monkeypatch.setattr(isolation, "detect", lambda tier=None: plain)
        return name
    try:
        protections = isolation.detect(base)
    except isolation.SandboxUnavailable as exc:
        pytest.skip(str(exc))
    if name == "landlock" and not protections.namespaces:
        pytest.skip("no namespaces can be made here: this tier is the landlock-plain one")
    return name
