"""Step: requirements.txt, the tested version *range* of each package students install.

The ranges live in :data:`RANGES` below, the single source of truth: the release renders them
into requirements.txt, and autograder/tests/test_requirements.py resolves that file for every
platform in :data:`PLATFORMS` and every Python in :data:`PYTHONS` (uv, against the registry).
The TA's exact pins stay in constraints.txt (grading, ``make setup``, the Gradescope image);
the release refuses to build unless each of those pins lies inside its range, so the versions
graded with are always among those students may install.

How the ranges are chosen (facts from the registry when written; the test prints the matrix):

* floor: the pinned minor release, lowered only where an older Python of :data:`PYTHONS` needs
  it (numpy 2.3+ requires Python 3.11; 2.2 is the last series for Python 3.10);
* ceiling: the next minor release for torch and numpy (their minors change numerics, dtypes
  and warnings the tests look at: students should not run newer ones than are graded), the
  next major for the pure-Python tools, which keep breaking changes for majors (pytest,
  pytest-timeout, pydantic, PyYAML); pydantic_core follows pydantic, which pins it exactly.

Intel Macs (x86_64-apple-darwin) are not supported: PyTorch's last Intel-macOS wheel is 2.2.2
(Python <= 3.12, NumPy 1 only), far below the graded 2.13; students there use Google Colab.
torch 2.13's macOS wheels are arm64 for macOS 14 or newer (:data:`MACOS_MIN`).

``packaging`` (SpecifierSet) comes with pytest, a dependency of the grader.
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name  # PEP 503: PyYAML == pyyaml, pydantic_core == pydantic-core
from packaging.version import InvalidVersion, Version

from .context import Context, ReleaseError, rel

#: Package -> the versions students may install (PEP 440). Edit here, then run
#: autograder/tests/test_requirements.py: it resolves the result for every platform and Python.
RANGES: dict[str, str] = {
    "torch": ">=2.13,<2.14",
    "numpy": ">=2.2,<2.5",          # 2.2: the last series for Python 3.10
    "pytest": ">=9.2,<10",
    "pytest-timeout": ">=2.4,<3",
    "pydantic": ">=2.14,<3",
    "pydantic_core": ">=2.50,<3",   # pydantic pins its exact version
    "PyYAML": ">=6.0,<7",
}
#: Packages students install, in requirements.txt's order.
REQUIREMENTS = tuple(RANGES)

#: What the release promises students (docs/student-readme.md, "Supported platforms"):
#: uv's --python-platform name -> the name in the README.
PLATFORMS = {
    "x86_64-pc-windows-msvc": "Windows amd64",
    "x86_64-unknown-linux-gnu": "Linux x86_64",
    "aarch64-unknown-linux-gnu": "Linux aarch64",
    "aarch64-apple-darwin": "macOS arm64 (Apple silicon)",
}
PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
MACOS_MIN = "14.0"  # torch 2.13's wheels: macosx_14_0_arm64
CPU_INDEX = "https://download.pytorch.org/whl/cpu"

CONSTRAINTS = "constraints.txt"  # in the course folder

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def pins(constraints: Path) -> dict[str, tuple[str, str]]:
    """Normalized name -> (name as written, version) of each exact pin in constraints.txt."""
    try:
        text = constraints.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReleaseError(f"{rel(constraints)}: cannot read it: {exc.strerror or exc}") from None
    found = {}
    for line in text.splitlines():
        match = _PIN.match(line.split("#", 1)[0].strip())
        if match:
            found[canonicalize_name(match.group(1))] = (match.group(1), match.group(2))
    return found


def check_pins(constraints: Path, ranges: dict[str, str] | None = None) -> dict[str, str]:
    """Name -> pinned version for each package of ``ranges`` (default :data:`RANGES`);
    ReleaseError unless each has an exact pin in ``constraints`` inside its range."""
    ranges = RANGES if ranges is None else ranges
    pinned = pins(constraints)
    missing = [name for name in ranges if canonicalize_name(name) not in pinned]
    if missing:
        raise ReleaseError(f"{rel(constraints)}: no exact pin (name==version) for {', '.join(missing)}")
    versions, outside = {}, []
    for name, spec in ranges.items():
        version = pinned[canonicalize_name(name)][1]
        try:
            inside = SpecifierSet(spec).contains(Version(version), prereleases=True)
        except (InvalidSpecifier, InvalidVersion) as exc:
            raise ReleaseError(f"{name}: {exc}") from None
        if not inside:
            outside.append(f"{name}=={version} is not in {name}{spec}")
        versions[name] = version
    if outside:
        raise ReleaseError(f"{rel(constraints)}: the graded versions must be among those students install "
                           f"(autograder/release/requirements.py, RANGES): {'; '.join(outside)}")
    return versions


def render_requirements(constraints: Path, ranges: dict[str, str] | None = None) -> str:
    ranges = RANGES if ranges is None else ranges
    graded = check_pins(constraints, ranges)
    lines = [
        f"# Python {PYTHONS[0]}-{PYTHONS[-1]}; Windows, Linux, macOS {MACOS_MIN.split('.')[0]}+ on Apple silicon.",
        "#   pip install -r requirements.txt",
        "# On Linux, for PyTorch's CPU-only build (about 200 MB instead of more than 1.5 GB with CUDA):",
        f"#   pip install -r requirements.txt --extra-index-url {CPU_INDEX}",
        "# Graded with " + ", ".join(f"{n} {v}" for n, v in graded.items()) + ".",
    ]
    lines += [f"{name}{spec}" for name, spec in ranges.items()]
    return "\n".join(lines) + "\n"


def requirements_txt(ctx: Context) -> dict[str, bytes]:
    return {"requirements.txt": render_requirements(ctx.root / CONSTRAINTS).encode()}
