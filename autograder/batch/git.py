"""Students' git repositories, read without trusting them: the --deadline option, the checks that
a repository is one of its own, the choice of the commit to grade (the last one at or before the
deadline, and whether anything came later), and the export of its homework files."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from ..submission import MAX_ZIP_BYTES, SubmissionError
from .errors import BatchError

GIT_TIMEOUT_S = 120
DEADLINE_EXAMPLE = "2026-11-30T23:59:00+01:00"


def parse_deadline(text: str | None) -> datetime | None:
    """An ISO-8601 date and time with a time zone, or None."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BatchError(f"--deadline {text!r} is not an ISO-8601 date and time; "
                         f"write e.g. {DEADLINE_EXAMPLE}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise BatchError(f"--deadline {text!r} has no time zone, so it is ambiguous; "
                         f"write e.g. {DEADLINE_EXAMPLE} (or Z for UTC)")
    return value


class Git:
    """Read-only plumbing on a student's repository that never trusts it.

    `git archive` is NOT used: it applies the repository's own filter drivers (a `smudge`
    command in .git/config), which would run the student's command here. `ls-tree` and
    `cat-file blob` read objects without any conversion. Nothing touches the working tree or
    the index, and no config, hook, pager or credential helper outside the repository is read.
    """

    HARDENING = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "safe.directory=*",
                 "-c", "log.showSignature=false", "--no-pager"]

    def __init__(self, repo: Path, home: Path) -> None:
        self.repo, self.home = repo, home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        self.env.update(HOME=str(home), XDG_CONFIG_HOME=str(home), GIT_CONFIG_NOSYSTEM="1",
                        GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", GIT_ATTR_NOSYSTEM="1",
                        GIT_NO_REPLACE_OBJECTS="1", LC_ALL="C")

    def __call__(self, *args: str, check: bool = True) -> bytes | None:
        cmd = ["git", *self.HARDENING, f"--git-dir={self.repo / '.git'}", *args]
        try:
            proc = subprocess.run(cmd, cwd=self.home, env=self.env, stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=GIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise SubmissionError(f"{self.repo.name}: git {args[0]} took more than {GIT_TIMEOUT_S} s") from None
        except OSError as exc:
            raise SubmissionError(f"cannot run git: {exc}") from None
        if proc.returncode != 0:
            if not check:
                return None
            why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise SubmissionError(f"{self.repo.name}: git {args[0]} failed: {why[-1] if why else proc.returncode}")
        return proc.stdout

    def commits(self, *refs: str) -> list[tuple[int, str]]:
        """(committer timestamp, hash) of every commit reachable from `refs`."""
        out = self("rev-list", "--timestamp", *refs) or b""
        return [(int(ts), h) for ts, h in (line.split() for line in out.decode().splitlines())]

    def commit_date(self, commit: str) -> str:
        """The committer date of `commit`, ISO-8601 in the committer's time zone."""
        text = (self("cat-file", "commit", commit) or b"").decode("utf-8", "replace")
        m = re.search(r"^committer .* (\d+) ([+-])(\d\d)(\d\d)$", text, re.M)
        if not m:
            return ""
        offset = timedelta(hours=int(m[3]), minutes=int(m[4])) * (-1 if m[2] == "-" else 1)
        return datetime.fromtimestamp(int(m[1]), timezone(offset)).isoformat()

    def export(self, commit: str, dest: Path) -> None:
        """Write the commit's homework_*.py files under `dest` (the only files the grader reads)."""
        listing = self("ls-tree", "-r", "-z", "-l", "--full-tree", commit) or b""
        total = 0
        for record in filter(None, listing.split(b"\0")):
            meta, _, raw = record.partition(b"\t")
            mode, kind, obj, size = meta.split()
            name = PurePosixPath(raw.decode("utf-8", "replace"))
            if kind != b"blob" or mode not in (b"100644", b"100755"):
                continue  # symbolic links and submodules are never followed
            if not (name.name.startswith("homework_") and name.suffix == ".py"):
                continue
            if name.is_absolute() or ".." in name.parts:
                raise SubmissionError(f"{self.repo.name}: commit {commit[:10]} has a path outside the repository: "
                                      f"{str(name)!r}")
            total += int(size)
            if total > MAX_ZIP_BYTES:
                raise SubmissionError(f"{self.repo.name}: commit {commit[:10]} is too large to be a submission")
            target = dest.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self("cat-file", "blob", obj.decode()) or b"")


def check_repository(repo: Path) -> None:
    """Refuse a repository that borrows objects from outside itself: a `.git` *file* (``gitdir:
    ../alice/.git``), ``commondir``, object alternates, or a link that leaves the entry."""
    dot_git = repo / ".git"
    if dot_git.is_symlink() or not dot_git.is_dir():
        raise SubmissionError(f"{repo.name}: .git is a file or a link pointing to another repository; a "
                              "submission must be a repository of its own (clone it again)")
    for borrowed in ("commondir", "objects/info/alternates", "objects/info/http-alternates"):
        if os.path.lexists(dot_git / borrowed):
            raise SubmissionError(f"{repo.name}: .git/{borrowed} takes objects from another repository; a "
                                  "submission must be a repository of its own (clone it again)")
    root = os.path.realpath(repo)
    for folder, dirs, files in os.walk(dot_git):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path) and os.path.commonpath([root, os.path.realpath(path)]) != root:
                raise SubmissionError(f"{repo.name}: {os.path.relpath(path, repo)} is a link out of the "
                                      "submission")


def pick_commit(git: Git, deadline: datetime | None) -> tuple[str | None, bool | None, str]:
    """(commit to grade or None, whether anything was committed after the deadline, why None)."""
    git("rev-parse", "--git-dir")  # not a repository at all: SubmissionError (invalid)
    head = git("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    if not head:
        return None, None, "the repository has no commit"
    if deadline is None:
        return head.decode().strip(), None, ""
    cutoff = deadline.timestamp()
    history = git.commits("HEAD")
    on_time = [(ts, h) for ts, h in history if ts <= cutoff]
    late = any(ts > cutoff for ts, _ in git.commits("--all"))
    if not on_time:
        first = datetime.fromtimestamp(min(ts for ts, _ in history), deadline.tzinfo).isoformat()
        return None, late, f"no commit at or before the deadline {deadline.isoformat()} (the first is from {first})"
    return max(on_time, key=lambda c: c[0])[1], late, ""
