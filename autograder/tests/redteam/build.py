"""Write the red-team corpus to disk: one submission per attack, as a batch would receive it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import yaml

from autograder.examples import materialize, reference_module
from autograder.expected import expected_score, expected_tasks
from autograder.tests import REPO, collected
from hwkit.grading import load_grading

from .corpus import ATTACKS, Attack

STUB_RAISE = re.compile(r"raise NotImplementedError\(.*\)")
# The corpus runs with the course's own time limits: what a hang costs here is what it costs a TA.
LIMITS = {"call_timeout_s": load_grading(REPO / "grading.yml").limits.call_timeout_s,
          "import_timeout_s": load_grading(REPO / "grading.yml").limits.import_timeout_s}


def expected(attack: Attack) -> float:
    """The exact score the attack must get with ``--gpu off`` (0 when it cannot be graded)."""
    if attack.status != "graded":
        return 0.0
    return expected_score(load_grading(REPO / "grading.yml"), collected(), attack.lost, attack.kept)


def full_marks_by_task() -> dict[str, float]:
    """What the reference earns per automatic task with ``--gpu off``."""
    return {t.name: t.score for t in expected_tasks(load_grading(REPO / "grading.yml"), collected())
            if not t.manual}


def write_corpus(dest: Path, *, port: int, canary: str, mark: str, unix_socket: str = "/nonexistent") -> dict[str, Path]:
    """One entry per attack under `dest` (folder, .zip or link); returns name -> path."""
    dest.mkdir(parents=True, exist_ok=True)
    fill = {"@@PORT@@": str(port), "@@CANARY@@": canary, "@@MARK@@": mark, "@@SOCKET@@": unix_socket}
    return {a.name: _write(a, dest, fill) for a in ATTACKS}


def redteam_grading(dest: Path) -> Path:
    """The repository's grading.yml (with LIMITS)."""
    config = yaml.safe_load((REPO / "grading.yml").read_text(encoding="utf-8"))
    config.setdefault("limits", {}).update(LIMITS)
    path = dest / "grading-redteam.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _write(attack: Attack, dest: Path, fill: dict[str, str]) -> Path:
    folder = dest / attack.name
    if attack.packaging == "zip-bomb":
        path = dest / f"{attack.name}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            with archive.open("homework_tensors.py", "w") as member:
                chunk = b"#" * 2**20 + b"\n"
                for _ in range(200):
                    member.write(chunk)
        return path
    if attack.packaging == "git":
        return _write_git(attack, folder, fill)
    if attack.packaging == "git-file":  # a classmate's repository, borrowed through a .git file
        folder.mkdir(parents=True)
        (folder / ".git").write_text("gitdir: ../late_commit/.git\n")
        return folder
    materialize(folder, _modules(attack.modules, fill), {k: _fill(v, fill) for k, v in attack.files.items()},
                name=attack.name)
    if attack.packaging == "symlink":
        (folder / "homework_tensors.py").unlink()
        (folder / "homework_tensors.py").symlink_to(REPO / "solutions" / "homework_tensors.py")
    elif attack.packaging in ("zip", "zip-encrypted"):
        path = dest / f"{attack.name}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for f in sorted(folder.rglob("*")):
                archive.write(f, f.relative_to(folder))
        if attack.packaging == "zip-encrypted":
            _mark_encrypted(path)
        shutil.rmtree(folder)  # (one entry per student: the .zip)
        return path
    return folder


def _modules(edits: dict, fill: dict[str, str]) -> dict:
    modules = {}
    for key, edit in edits.items():
        edit = {k: _fill(v, fill) for k, v in edit.items()}
        if "stub_body" in edit:
            edit = {"source": STUB_RAISE.sub(edit.pop("stub_body"), reference_module(key, "assignment"))}
        modules[key] = edit
    return modules


def _write_git(attack: Attack, folder: Path, fill: dict[str, str]) -> Path:
    """A student repository: one commit per entry of `attack.commits`, at the given dates.

    The hostile config goes in only after the last commit, so that it attacks the grader's
    reading of the repository, not this builder."""
    def git(*args: str, date: str = "") -> None:
        env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date, "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_AUTHOR_NAME": "student", "GIT_AUTHOR_EMAIL": "s@example.org",
               "GIT_COMMITTER_NAME": "student", "GIT_COMMITTER_EMAIL": "s@example.org"}
        subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, env=env)

    folder.mkdir(parents=True)
    git("init", "-q", "-b", "main")
    for date, edits in attack.commits:
        materialize(folder, _modules(edits, fill), name=attack.name)
        git("add", "-A")
        git("commit", "-q", "-m", f"work of {date}", date=date)
    for path, text in attack.files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_fill(text, fill), encoding="utf-8")
        target.chmod(0o755)
    if attack.git_config:
        with open(folder / ".git" / "config", "a", encoding="utf-8") as config:
            config.write(_fill(attack.git_config, fill))
    return folder


def _fill(value, fill: dict[str, str]):
    if isinstance(value, str):
        for k, v in fill.items():
            value = value.replace(k, v)
        return value
    if isinstance(value, list):
        return [_fill(v, fill) for v in value]
    return value


BEGIN, END = "<!-- redteam table: generated from autograder/tests/redteam/corpus.py -->", "<!-- end of redteam table -->"


def threat_table() -> str:
    """The attack → defence → test table of docs/grading.md, generated from the corpus."""
    full = expected(Attack("reference", "", "", ""))
    lines = [BEGIN, "", f"| # | Attack | Kind | Defence | Holds in | Score (of {full:g}) | Test |",
             "|---|---|---|---|---|---|---|"]
    for i, a in enumerate(ATTACKS, 1):
        lost = ", ".join(f"`{p}`" for p in a.lost) or "nothing"
        cell = f"{expected(a):g}" + (f" ({a.status})" if a.status != "graded" else "") + f"; loses {lost}"
        lines.append(f"| {i} | {_md(a.attack)} | {a.kind} | {_md(a.defence)} | {tiers_of(a)} | {cell} | "
                     f"`test_redteam.py::test_attack_scores_exactly_as_documented[{a.name}]` |")
    return "\n".join(lines + ["", END])


def tiers_of(attack: Attack) -> str:
    """The sandbox tiers in which the attack's defence holds (see docs/grading.md, "Tiers")."""
    if attack.kind not in ("escape", "fault") or attack.packaging not in ("folder",):
        return "any (trusted side)"
    if "pid_namespace" in attack.needs:
        return "bubblewrap; landlock with its own namespaces"
    if "disk_budget" in attack.needs:
        return "bubblewrap ≥ 0.8; landlock with its own namespaces"
    return "bubblewrap; landlock"


def _mark_encrypted(path: Path) -> None:
    """Set the "encrypted" flag of every member (Python cannot write encrypted archives): to a
    reader it is then exactly a password-protected .zip."""
    data = bytearray(path.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at >= 0:
            data[at + flag_at] |= 0x1
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def update_docs(path: Path = REPO / "docs" / "grading.md") -> None:
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    path.write_text(text[:start] + threat_table() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    update_docs()
