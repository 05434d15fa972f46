"""Points of a CI run for students: a GitHub job summary and a GitHub Classroom ``result`` output.

Run by the template repository's workflow (``.github/workflows/autograde.yml``) after pytest::

    python -m pytest tests --points-json points.json     # may fail: tests failed
    python -m hwkit.classroom points.json

It reads the run's record written by the homework plugin (``--points-json``; its fields are
:class:`hwkit.record.GradingResult`'s) and

* prints a markdown summary (points per task, the tests that lost points) and appends it to
  the file named by ``$GITHUB_STEP_SUMMARY`` when that is set;
* appends ``result=<base64 JSON>`` (plus ``status``, ``score`` and ``max_score``) to the file
  named by ``$GITHUB_OUTPUT`` when that is set.

The ``result`` follows GitHub Classroom's runner actions (classroom-resources/
autograding-command-grader, ``src/main.js``: ``generateResult``), which
classroom-resources/autograding-grading-reporter decodes: ``{"version": 1, "status":
"pass"|"fail"|"error", "max_score", "tests": [{"name", "status", "score", "message",
"test_code", "filename", "line_no", "duration"}]}``; each test also carries its own
``max_score``. ``line_no`` is 0, the reporter's "no line" value (it prints
``- line <n>`` for anything else, ``null`` included).

Only the public tests that can run here count: tests that need a real GPU are left out of
``max_score`` (and listed as pending), as are hidden tests and the hand-graded analysis.
It reads the record as plain JSON (no model validation: a damaged file still gets a summary
that says so); it ships to students with the public tests.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import sys
from pathlib import Path

from . import i18n
from .i18n import tr, trn, trp
from .record import RECORD_VERSION
from .text import strip_terminal

RESULT_VERSION = 1
MAX_MESSAGE = 500
MAX_CELL = 200



def load_points(path: Path) -> tuple[dict | None, str]:
    """The run's record (as JSON), or None and why it cannot be used."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, (f"{path} was not written: pytest stopped before the end of the run "
                      "(see the test step's log)")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path} could not be read: {exc}"
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list) or data.get("version") != RECORD_VERSION:
        return None, f"{path} is not a points file written by `pytest --points-json`"
    return data, ""


def _num(x: float) -> float:
    return round(float(x), 4)


def _fmt(x: float) -> str:
    return f"{_num(x):g}"


def _clean(text: str, limit: int) -> str:
    text = strip_terminal(text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def gradable(points: dict) -> list[dict]:
    """Tests that ran and can earn points here (not those waiting for a GPU)."""
    return [t for t in points.get("tests", []) if t.get("status") not in ("pending_gpu", "not_run")]


def _short(test: dict) -> str:
    """``tests/test_a.py::test_b`` -> ``test_b``."""
    return str(test.get("name", "?")).rsplit("::", 1)[-1]


def run_status(points: dict | None) -> tuple[str, str]:
    """("pass" | "fail" | "error", why it is an error)."""
    if points is None:
        return "error", ""
    if points.get("no_points"):
        return "error", str(points["no_points"])
    exitstatus = points.get("exitstatus", 0)
    if exitstatus not in (0, 1):
        return "error", (f"pytest stopped with exit code {exitstatus} (collection error, interrupted "
                         "or a usage error): see the test step's log")
    tests = gradable(points)
    if not tests:
        return "error", "no graded test ran here"
    if exitstatus == 1 or any(t.get("status") != "passed" for t in tests):
        return "fail", ""
    return "pass", ""


def classroom_result(points: dict | None, error: str = "") -> dict:
    """The ``result`` a GitHub Classroom runner action outputs (before base64)."""
    status, why = run_status(points)
    why = error or why
    tests = []
    for t in gradable(points or {}):
        passed = t.get("status") == "passed"
        message = t.get("output", "") or ""
        if not passed and t.get("cases", 1) > 1:
            message = f"{t.get('cases_passed', 0)}/{t['cases']} cases passed. {message}"
        if not passed and t.get("status") == "skipped":
            message = f"skipped: {message}"
        test_id = t.get("name", "?")
        tests.append({
            "name": test_id,
            "status": "pass" if passed else "fail",
            "score": _num(t.get("score", 0)),
            "max_score": _num(t.get("max_score", 0)),
            "message": _clean(message, MAX_MESSAGE),
            "test_code": f'python -m pytest "{test_id}"',
            "filename": test_id.split("::", 1)[0],
            "line_no": 0,
            "duration": t.get("duration", 0),
        })
    if status == "error":
        # The reporter divides by the number of tests: there is always at least one.
        tests.insert(0, {"name": "public tests", "status": "error", "score": 0, "max_score": 0,
                         "message": _clean(why, MAX_MESSAGE), "test_code": "python -m pytest tests",
                         "filename": "", "line_no": 0, "duration": 0})
    return {"version": RESULT_VERSION, "status": status,
            "max_score": _num(sum(t["max_score"] for t in tests)), "tests": tests}


def encode_result(result: dict) -> str:
    return base64.b64encode(json.dumps(result, separators=(",", ":")).encode("utf-8")).decode("ascii")


def _cell(text: str, limit: int = MAX_CELL) -> str:
    """Text safe inside one markdown table cell: one line, no pipes, no HTML."""
    text = " ".join(_clean(text, 10 * limit).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return html.escape(text, quote=False).replace("|", "\\|")


def summary_markdown(points: dict | None, result: dict, error: str = "") -> str:
    lang = (points or {}).get("lang")
    with i18n.using(lang if lang in i18n.LANGUAGES else "en"):
        return _summary_markdown(points, result, error)


def _summary_markdown(points: dict | None, result: dict, error: str) -> str:
    status = result["status"]
    icon = {"pass": "✅", "fail": "❌"}.get(status, "⚠️")
    lines = [f"## {icon} " + tr("Homework points — public tests"), ""]
    if points is None or status == "error" and not gradable(points or {}):
        why = error or run_status(points)[1]
        lines += ["**" + tr("The points could not be computed:") + f"** {_cell(why, 1000)}", ""]
        return "\n".join(lines) + "\n"
    tests = gradable(points)
    score = sum(t["score"] for t in tests)
    max_score = sum(t["max_score"] for t in tests)
    lines.append(trn("**{score} / {max_score} points** from the {n} public test that ran here.",
                     "**{score} / {max_score} points** from the {n} public tests that ran here.",
                     len(tests), score=_fmt(score), max_score=_fmt(max_score)))
    if status == "error":
        lines += ["", f"⚠️ {_cell(run_status(points)[1], 1000)}"]
    notes = []
    pending = [t for t in points["tests"] if t.get("status") == "pending_gpu"]
    if pending:
        notes.append(trp("{points} point in {n} tests waits for a real GPU; they are graded when your work is.",
                         "{points} points in {n} tests wait for a real GPU; they are graded when your work is.",
                         _num(sum(t["max_score"] for t in pending)), n=len(pending)))
    hidden = sum(t.get("hidden_points", 0) for t in points.get("tasks", []) if not t.get("manual"))
    if hidden:
        notes.append(trp("{points} point comes from hidden tests (the same functions on other inputs), graded "
                         "after you submit.",
                         "{points} points come from hidden tests (the same functions on other inputs), graded "
                         "after you submit.", _num(hidden)))
    manual = [t for t in points.get("tasks", []) if t.get("manual")]
    for task in manual:
        notes.append(trp("{task} ({points} point) is graded by hand.", "{task} ({points} points) is graded by hand.",
                         _num(task["max_score"]), task=_cell(task["title"])))
    if notes:
        lines += [""] + [f"* {n}" for n in notes]
    lines += ["", tr("| Task | Points | Tests passed |"), "|:--|--:|--:|"]
    for task in points.get("tasks", []):
        if task.get("manual"):
            lines.append(f"| {_cell(task['title'])} | " + tr("graded by hand ({points})", points=_fmt(task["max_score"]))
                         + " | |")
            continue
        own = [t for t in tests if t.get("task") == task["name"]]
        waiting = [t for t in pending if t.get("task") == task["name"]]
        if not own and not waiting:
            continue
        passed = sum(t.get("status") == "passed" for t in own)
        extra = " " + trn("({n} pending GPU)", "({n} pending GPU)", len(waiting)) if waiting else ""
        mark = " ✅" if own and passed == len(own) else " ❌" if own else ""
        lines.append(f"| {_cell(task['title'])} | {_fmt(sum(t['score'] for t in own))} / "
                     f"{_fmt(sum(t['max_score'] for t in own))}{mark} | {passed} / {len(own)}{extra} |")
    passed_all = sum(t.get("status") == "passed" for t in tests)
    total = tr("Total")
    lines.append(f"| **{total}** | **{_fmt(score)} / {_fmt(max_score)}** | **{passed_all} / {len(tests)}** |")
    # Per task, the most useful hint first (the plugin's hint_rank).
    order = {t["name"]: i for i, t in enumerate(points.get("tasks", []))}
    lost = sorted((t for t in tests if t.get("status") != "passed"),
                  key=lambda t: (order.get(t.get("task"), 0), t.get("hint_rank") is None, t.get("hint_rank") or 0))
    if lost:
        titles = {t["name"]: t["title"] for t in points.get("tasks", [])}
        lines += ["", tr("### Tests that lost points ({n})", n=len(lost)), "", tr("| Test | Task | Points | Why |"),
                  "|:--|:--|--:|:--|"]
        for t in lost:
            message = t.get("output", "") or t.get("status", "")
            first = (message.strip().splitlines() or [""])[0]
            cases = " " + trn("({passed}/{n} case)", "({passed}/{n} cases)", t["cases"],
                              passed=t.get("cases_passed", 0)) if t.get("cases", 1) > 1 else ""
            lines.append(f"| `{_cell(_short(t))}` | {_cell(titles.get(t.get('task'), t.get('task', '')))} | "
                         f"{_fmt(t['score'])} / {_fmt(t['max_score'])}{cases} | {_cell(first)} |")
        lines += ["", tr("Run one test locally with `python -m pytest -k NAME`; the test's message says what to "
                         "fix.")]
    if pending:
        lines += ["", "<details><summary>" + tr("Tests waiting for a GPU") + "</summary>", "",
                  tr("| Test | Points |"), "|:--|--:|"]
        lines += [f"| `{_cell(_short(t))}` | {_fmt(t['max_score'])} |" for t in pending]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hwkit.classroom", description=__doc__.splitlines()[0])
    parser.add_argument("points", nargs="?", default="points.json",
                        help="the file written by `pytest --points-json` (default: points.json)")
    args = parser.parse_args(argv)
    points, error = load_points(Path(args.points))
    result = classroom_result(points, error)
    summary = summary_markdown(points, result, error)
    print(summary)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        _append(os.environ["GITHUB_STEP_SUMMARY"], summary)
    if os.environ.get("GITHUB_OUTPUT"):
        earned = sum(t["score"] for t in result["tests"])
        _append(os.environ["GITHUB_OUTPUT"],
                f"result={encode_result(result)}\nstatus={result['status']}\n"
                f"score={_fmt(earned)}\nmax_score={_fmt(result['max_score'])}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
