"""Expected answers for the public tests' fixed inputs, stored from the reference solution.

A public test never computes its expected value with the reference's own expression (that
would hand students the answer). It asks the ``expected`` fixture instead::

    result = hw.tensors.index_tensor(t)
    want = expected("index_tensor[5x5x5]", result)

Normally this returns the answer stored in ``<suite>/snapshots/<test file>.json`` (and
ignores ``result``). ``pytest --snapshot-update`` (run by ``autograder snapshots`` on the
course's ``solutions/``) instead stores ``result``, the reference's answer, and returns it.
The files are plain JSON, reviewable in a diff, and never executed (no pickle).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from .files import atomic_write
from .i18n import tr
from .stash import SNAPSHOTS

FOLDER = "snapshots"  # beside the test files
FORMAT = 1
ABOUT = ("The expected answers for the public tests' inputs, stored from the reference solution "
         "(autograder snapshots). Do not edit by hand.")


class SnapshotError(Exception):
    """A stored answer cannot be read or written; the message names the file."""


def path_for(test_file: Path) -> Path:
    return Path(test_file).parent / FOLDER / f"{Path(test_file).stem}.json"


# -- encoding: tensors, dicts (any hashable keys, e.g. shape tuples), lists, tuples, numbers --

def encode(value: Any) -> Any:
    if type(value) is torch.Tensor:
        t = value.detach().cpu()
        return {"tensor": {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
                           "values": _plain(t.tolist())}}
    if isinstance(value, dict):
        return {"dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return {type(value).__name__: [encode(v) for v in value]}
    if value is None or isinstance(value, (bool, int, str)):
        return {"value": value}
    if isinstance(value, float):
        return {"value": value if math.isfinite(value) else repr(value)}
    raise SnapshotError(f"cannot store {type(value).__name__} values (tensors, dicts, lists, tuples, numbers)")


def _plain(values: Any) -> Any:
    """``tolist()`` output with inf/nan spelled as strings, so the file stays strict JSON."""
    if isinstance(values, list):
        return [_plain(v) for v in values]
    return repr(values) if isinstance(values, float) and not math.isfinite(values) else values


def _number(value: Any) -> Any:
    if isinstance(value, list):
        return [_number(v) for v in value]
    return float(value) if isinstance(value, str) else value


def decode(data: Any) -> Any:
    if not isinstance(data, dict) or len(data) != 1:
        raise SnapshotError(f"not a stored value: {str(data)[:80]}")
    (kind, body), = data.items()
    if kind == "tensor":
        dtype = getattr(torch, body["dtype"], None)
        if not isinstance(dtype, torch.dtype):
            raise SnapshotError(f"unknown dtype {body['dtype']!r}")
        return torch.tensor(_number(body["values"]), dtype=dtype).reshape(body["shape"])
    if kind == "dict":
        return {_hashable(decode(k)): decode(v) for k, v in body}
    if kind in ("list", "tuple"):
        items = [decode(v) for v in body]
        return items if kind == "list" else tuple(items)
    if kind == "value":
        return float(body) if body in ("inf", "-inf", "nan") else body
    raise SnapshotError(f"unknown kind {kind!r}")


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


# -- files ---------------------------------------------------------------------------------------

def load(path: Path) -> dict[str, Any]:
    """Every stored answer of one test file, by name ({} when there is no file)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{path}: cannot read it: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("answers"), dict):
        raise SnapshotError(f"{path}: not a snapshot file of format {FORMAT}")
    try:
        return {name: decode(value) for name, value in data["answers"].items()}
    except (SnapshotError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise SnapshotError(f"{path}: a stored answer is malformed: {exc}") from None


def save(path: Path, answers: dict[str, Any]) -> None:
    # One answer per line: a diff shows which answers changed.
    lines = [f"  {json.dumps(name)}: {json.dumps(encode(answers[name]), separators=(',', ':'))}"
             for name in sorted(answers)]
    text = ('{\n "format": %d,\n "about": %s,\n "answers": {\n%s\n }\n}\n'
            % (FORMAT, json.dumps(ABOUT), ",\n".join(lines)))
    atomic_write(Path(path), text.encode())


# -- pytest ---------------------------------------------------------------------------------------

def add_option(group) -> None:
    group.addoption("--snapshot-update", nargs="?", const="merge", default=None, choices=("merge", "replace"),
                    help="(course authors) store the answers of the submission under test as the public tests' "
                         "expected values, keeping the other stored answers (merge) or dropping them "
                         "(replace); run by `autograder snapshots` on the reference solution")


class Store:
    """The answers of one run: read lazily per test file; in update mode, recorded and written at the end."""

    def __init__(self, update: str | None) -> None:
        self.update = update  # None, "merge" or "replace"
        self.read: dict[Path, dict[str, Any]] = {}
        self.recorded: dict[Path, dict[str, Any]] = {}

    def get(self, test_file: Path, name: str, result: Any) -> Any:
        path = path_for(test_file)
        if self.update:
            encode(result)  # fails now, in the test that produced it, if it cannot be stored
            answers = self.recorded.setdefault(path, {})
            if name in answers and encode(answers[name]) != encode(result):
                pytest.fail(f"snapshot {name!r} recorded twice with different values", pytrace=False)
            answers[name] = result
            return result
        if path not in self.read:
            try:
                self.read[path] = load(path)
            except SnapshotError as exc:
                pytest.fail(tr("the tests' stored answers are damaged ({why}) — restore the file from the "
                               "template (git checkout -- {file})", why=str(exc), file=f"{path.parent.name}/{path.name}"),
                            pytrace=False)
        answers = self.read[path]
        if name not in answers:
            pytest.fail(tr("no stored answer named {name} in {file} — get the tests again from the template",
                           name=repr(name), file=f"{path.parent.name}/{path.name}"), pytrace=False)
        return answers[name]

    def write(self) -> list[Path]:
        written = []
        for path, answers in self.recorded.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            kept = {}
            if self.update == "merge":  # a run of some tests only (-k) keeps the other tests' answers
                try:
                    kept = load(path)
                except SnapshotError:
                    pass
            save(path, {**kept, **answers})
            written.append(path)
        return written


def fixture(request: pytest.FixtureRequest) -> Callable[[str, Any], Any]:
    store = request.config.stash[SNAPSHOTS]
    test_file = Path(str(request.path))
    return lambda name, result: store.get(test_file, name, result)
