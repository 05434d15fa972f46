"""Step: requirements.txt, each package pinned to its version in constraints.txt."""

from __future__ import annotations

import re
from pathlib import Path

from .context import Context, ReleaseError, rel

#: Packages students install; each is pinned to its version in constraints.txt.
REQUIREMENTS = ("torch", "numpy", "pytest", "pytest-timeout", "pydantic", "pydantic_core", "PyYAML")
CONSTRAINTS = "constraints.txt"  # in the course folder

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def render_requirements(constraints: Path) -> str:
    try:
        text = constraints.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReleaseError(f"{rel(constraints)}: cannot read it: {exc.strerror or exc}") from None
    pins = {}
    for line in text.splitlines():
        match = _PIN.match(line.split("#", 1)[0].strip())
        if match:
            pins[_normalize(match.group(1))] = (match.group(1), match.group(2))
    missing = [name for name in REQUIREMENTS if _normalize(name) not in pins]
    if missing:
        raise ReleaseError(f"{rel(constraints)}: no exact pin (name==version) for {', '.join(missing)}")
    lines = ["# The versions this homework is tested and graded with:  pip install -r requirements.txt"]
    lines += [f"{pins[_normalize(n)][0]}=={pins[_normalize(n)][1]}" for n in REQUIREMENTS]
    return "\n".join(lines) + "\n"


def _normalize(name: str) -> str:
    """A package name as pip compares them (PEP 503): PyYAML == pyyaml, pydantic_core == pydantic-core."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_txt(ctx: Context) -> dict[str, bytes]:
    return {"requirements.txt": render_requirements(ctx.root / CONSTRAINTS).encode()}
