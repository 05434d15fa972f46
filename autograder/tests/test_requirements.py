"""The release's requirements.txt installs on every platform and Python the student README promises.

Run from the repository root:  .venv/bin/python -m pytest -q -p no:cacheprovider autograder/tests/test_requirements.py

* Resolution: ``uv pip compile --python-platform P --python-version V`` of the rendered
  requirements.txt against the registry, for each platform x Python of
  autograder/release/requirements.py (PLATFORMS, PYTHONS). uv evaluates the *target's* markers
  (pip's ``--platform`` evaluates platform_system on the host: on Linux, a Windows check would
  pull torch's Linux-only nvidia packages and fail falsely). Wheels only (``--only-binary``):
  students have no compilers. uv is a test tool (the ``test`` extra), never the installer.
  Skipped, with the reason, when the registry cannot be reached.
* The README's exclusions are resolved too: Intel Macs and macOS 13 must *fail* (on torch).
* The oldest Python: vermin on the code students run (hwkit/, tests/, solutions/).

Only Python 3.11 with the CPU torch on disk runs here; installs of the release elsewhere in
the suite use ``-c constraints.txt`` (autograder/tests/venvs.py).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from autograder.release import ReleaseError
from autograder.release import requirements as req
from autograder.tests import REPO

README = REPO / "docs" / "student-readme.md"
INDEX = (os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL") or "https://pypi.org/simple").rstrip("/")
INTEL_MAC = "x86_64-apple-darwin"
OLD_MACOS = "13.0"
# The code students run: the kit, the public tests, and the reference the stubs are made from.
STUDENT_CODE = ("hwkit", "tests", "solutions")
# 3.11+ methods on objects whose type vermin cannot infer (`exc.add_note(...)` on a caught exception).
UNTYPED_311 = {"add_note": "BaseException.add_note", "__notes__": "BaseException.__notes__"}


@pytest.fixture(scope="module")
def requirements_txt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("requirements") / "requirements.txt"
    path.write_text(req.render_requirements(REPO / req.CONSTRAINTS), encoding="utf-8")
    return path


# --- the ranges and the pins -------------------------------------------------------------------

def test_requirements_txt_holds_the_ranges_and_each_graded_pin_lies_inside(requirements_txt):
    text = requirements_txt.read_text(encoding="utf-8")
    listed = [Requirement(line) for line in text.splitlines() if line and not line.startswith("#")]
    assert [r.name for r in listed] == list(req.REQUIREMENTS)
    pins = req.pins(REPO / req.CONSTRAINTS)
    for r in listed:
        assert str(r.specifier) and "==" not in str(r.specifier), f"{r}: a range, not a pin"
        assert r.specifier == req.RANGES[r.name]
        assert r.specifier.contains(Version(pins[canonicalize_name(r.name)][1])), r
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any(f"--extra-index-url {req.CPU_INDEX}" in line for line in header), "the CPU-only torch on Linux"
    assert f"Python {req.PYTHONS[0]}-{req.PYTHONS[-1]}" in header[0]
    assert "Graded with torch 2.13.0" in text  # the TA's pin, from constraints.txt


def test_release_refuses_a_pin_outside_its_range_or_a_missing_pin(tmp_path):
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("torch==2.12.1\nnumpy==2.4.6  # a comment\n", encoding="utf-8")
    with pytest.raises(ReleaseError, match=r"torch==2\.12\.1 is not in torch>=2\.13,<2\.14"):
        req.check_pins(constraints, {"torch": ">=2.13,<2.14", "numpy": ">=2.2,<2.5"})
    with pytest.raises(ReleaseError, match="no exact pin .* for PyYAML"):
        req.check_pins(constraints, {"numpy": ">=2.2,<2.5", "PyYAML": ">=6.0,<7"})
    assert req.check_pins(constraints, {"numpy": ">=2.2,<2.5"}) == {"numpy": "2.4.6"}
    constraints.write_text("torch==2.13.0+cpu\n", encoding="utf-8")  # a local version is still 2.13.0
    assert req.render_requirements(constraints, {"torch": ">=2.13,<2.14"}).endswith("\ntorch>=2.13,<2.14\n")


def test_readme_states_the_supported_platforms_and_the_intel_mac_policy():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Supported platforms", 1)[1].split("\n## ", 1)[0]
    for python in req.PYTHONS:
        assert python in section, python
    words = " ".join(section.replace("**", "").split())
    for claim in ("Windows 64-bit", "Linux x86_64 or aarch64", f"macOS {req.MACOS_MIN.split('.')[0]} or newer on "
                  "Apple silicon", "Intel Mac", f"macOS {OLD_MACOS.split('.')[0]} and older", "Google Colab"):
        assert claim in words, claim


# --- resolution for the students' platforms, against the registry --------------------------------

def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not found:
        pytest.skip("uv is not installed (the test extra: pip install -c constraints.txt -e '.[test]')")
    return found


def _registry_or_skip() -> None:
    """One quick request: without the registry, say so instead of failing 30 resolutions."""
    try:
        urllib.request.urlopen(urllib.request.Request(f"{INDEX}/pytest-timeout/", method="HEAD"), timeout=5).close()
    except (OSError, ValueError) as exc:
        pytest.skip(f"the package registry {INDEX} is unreachable ({exc}): requirements.txt was not "
                    "resolved for the students' platforms")


def _compile(uv: str, requirements: Path, cache: Path, platform: str, python: str,
             macos: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MACOSX_DEPLOYMENT_TARGET": macos}  # uv's macOS version for *-apple-darwin
    # --python: this interpreter only runs uv's resolver (the markers are the target's); without
    # it uv looks for a Python `python` and, finding none, tries to download one (minutes offline).
    cmd = [uv, "pip", "compile", "--quiet", "--no-config", "--no-header", "--no-annotate",
           "--no-python-downloads", "--python", sys.executable, "--cache-dir", str(cache),
           "--only-binary", ":all:", "--python-platform", platform, "--python-version", python, str(requirements)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def resolved(requirements_txt, tmp_path_factory) -> dict[tuple[str, str, str], subprocess.CompletedProcess]:
    """(platform, Python, macOS) -> uv's resolution: the promised matrix, Intel Macs and macOS 13,
    one uv per combination, all at once, sharing one fresh cache."""
    uv = _uv()
    _registry_or_skip()
    combos = [(p, v, req.MACOS_MIN) for p in req.PLATFORMS for v in req.PYTHONS]
    combos += [(INTEL_MAC, v, req.MACOS_MIN) for v in req.PYTHONS]
    combos += [("aarch64-apple-darwin", v, OLD_MACOS) for v in (req.PYTHONS[0], req.PYTHONS[-1])]
    cache = tmp_path_factory.mktemp("uv-cache")
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(combos)) as pool:
        runs = list(pool.map(lambda c: _compile(uv, requirements_txt, cache, *c), combos))
    print(f"\n{len(combos)} resolutions with uv in {time.monotonic() - start:.1f} s")
    return dict(zip(combos, runs))


def _versions(output: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", output, re.M))


def test_requirements_resolve_on_every_supported_platform_and_python(resolved):
    wanted = {canonicalize_name(n): Requirement(f"{n}{s}") for n, s in req.RANGES.items()}
    problems, table = [], []
    for platform in req.PLATFORMS:
        for python in req.PYTHONS:
            ran = resolved[platform, python, req.MACOS_MIN]
            if ran.returncode != 0:
                problems.append(f"{platform} Python {python}: {ran.stderr.strip()[-1500:]}")
                continue
            got = {canonicalize_name(n): v for n, v in _versions(ran.stdout).items()}
            for name, requirement in wanted.items():
                if name not in got or not requirement.specifier.contains(got[name]):
                    problems.append(f"{platform} Python {python}: {name}=={got.get(name)} is not in {requirement}")
            table.append(f"{platform:26} {python:5} torch {got.get('torch')}  numpy {got.get('numpy')}")
    print("\n".join(table))
    assert not problems, "\n".join(problems)


def test_intel_macs_and_macos_13_fail_on_torch_as_the_readme_says(resolved):
    unsupported = [(INTEL_MAC, v, req.MACOS_MIN) for v in req.PYTHONS]
    unsupported += [c for c in resolved if c[2] == OLD_MACOS]
    for combo in unsupported:
        ran = resolved[combo]
        assert ran.returncode != 0, f"{combo} resolves now: update the README's Intel Mac policy\n{ran.stdout}"
        assert "No solution found" in ran.stderr and "torch" in ran.stderr, (combo, ran.stderr[-1500:])


# --- the oldest Python the kit needs -------------------------------------------------------------

def test_student_code_needs_no_newer_python_than_the_release_claims():
    pytest.importorskip("vermin", reason="vermin is not installed (the test extra: pip install -e '.[test]')")
    oldest = req.PYTHONS[0]
    claimed = re.search(r'requires-python\s*=\s*">=\s*([0-9.]+)"', (REPO / "pyproject.toml").read_text())
    assert claimed and Version(claimed.group(1)) <= Version(oldest), "pyproject.toml's requires-python"
    ran = subprocess.run([sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())", "--no-tips",
                          "--violations", "--eval-annotations", f"-t={oldest}-", *STUDENT_CODE],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0 and "Minimum required versions:" in ran.stdout, \
        f"needs a newer Python than {oldest}:\n{ran.stdout[-4000:]}{ran.stderr[-2000:]}"
    # What vermin cannot see: 3.11+ methods called on objects of a type it does not know.
    found = []
    for folder in STUDENT_CODE:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Attribute) and node.attr in UNTYPED_311:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {UNTYPED_311[node.attr]} needs Python 3.11")
    assert not found, "\n".join(found)
