"""Points of a CI run for students: a GitHub job summary, and the input of GitHub Classroom's reporter.

Run by the template repository's workflow (``.github/workflows/autograde.yml``) after pytest::

    python -m pytest tests --points-json "$RUNNER_TEMP/points.json"   # may fail: tests failed
    python -m hwkit.classroom "$RUNNER_TEMP/points.json"              # exit 1 unless all passed

It reads the run's record written by the homework plugin (``--points-json``; its fields are
:class:`hwkit.record.GradingResult`'s), prints a markdown summary (points per task, the tests
that lost points), appends it to ``$GITHUB_STEP_SUMMARY``, and exits 1 unless every public
test that counts here passed and the points were recorded (so the job is red then).

For GitHub Classroom's reporter (classroom-resources/autograding-grading-reporter@v1) it
writes one *runner* per public test: ``<ID>_RESULTS=<base64 JSON>`` to ``$GITHUB_ENV`` and
the list of ids as the ``runners`` output (``$GITHUB_OUTPUT``, with ``status``, ``score`` and
``max_score``). Why one per test, with one entry per test case: the reporter's console table
scores a runner as passed entries ÷ entries × the runner's max_score, ignoring each entry's
score (its issue #10), while the ``Points X/Y`` notice that Classroom records adds the
entries' scores. Within one test every case is worth the same, so both give our total. A
runner's JSON is what Classroom's runner actions output (autograding-command-grader's
``generateResult``): ``{"version": 1, "status", "max_score", "tests": [{"name", "status",
"score", "message", "test_code", "filename", "line_no", "duration"}]}``; ``line_no`` is 0,
the reporter's "no line" value.

What counts: the public tests that can earn points without a GPU, fixed by the suite (tests
marked ``gpu``, and those that require one, never count here), so ``max_score`` is the same
for every submission. The plugin writes the record once collection is done (every test "not
run", no exit status) and again at the end, so a run cut short (``os._exit`` in the code under
test, a crash) scores 0 of that same maximum and is an error. It reads the record as plain
JSON (no model validation: a damaged file still gets a summary that says so); it ships to
students with the public tests.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import re
import sys
from pathlib import Path

from . import i18n
from .i18n import tr, trn, trp
from .record_format import RECORD_VERSION
from .text import points as two_decimals, strip_terminal

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
    return two_decimals(x)


def _clean(text: str, limit: int) -> str:
    text = strip_terminal(text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _waits_for_gpu(test: dict) -> bool:
    return bool(test.get("gpu")) or test.get("status") == "pending_gpu"


def _no_message(test: dict) -> str:
    """What a test with no message of its own shows (never a raw status name)."""
    return {"not_run": tr("This test did not run."), "skipped": tr("skipped")}.get(
        test.get("status"), str(test.get("status", "")))


def gradable(points: dict) -> list[dict]:
    """The tests that count here: every public test that can earn points without a GPU, run or
    not (the same for every submission)."""
    return [t for t in points.get("tests", []) if not t.get("hidden") and not _waits_for_gpu(t)]


def waiting_for_gpu(points: dict) -> list[dict]:
    return [t for t in points.get("tests", []) if not t.get("hidden") and _waits_for_gpu(t)]


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
    if exitstatus is None:
        return "error", tr("pytest did not finish: the run was cut short (a crash, os._exit or a killed process), "
                           "so no points were recorded; see the test step's log")
    if exitstatus not in (0, 1):
        return "error", tr("pytest stopped with exit code {code} (a collection error, an interruption or a usage "
                           "error), so no points were recorded; see the test step's log", code=exitstatus)
    tests = gradable(points)
    if not tests:
        return "error", tr("no graded test ran here")
    if exitstatus == 1 or any(t.get("status") != "passed" for t in tests):
        return "fail", ""
    return "pass", ""


def classroom_result(points: dict | None, error: str = "") -> dict:
    """The whole run in the runner actions' ``result`` format, one entry per test with its own
    score (the summary, and the step's status/score/max_score outputs, are made from it)."""
    status, why = run_status(points)
    why = error or why
    tests = []
    for t in gradable(points or {}):
        # (a run that did not end normally records nothing, as the reporter's runners say too)
        passed = t.get("status") == "passed" and status != "error"
        message = t.get("output", "") or ""
        if not passed and t.get("cases", 1) > 1:
            message = trn("{passed}/{n} case passed.", "{passed}/{n} cases passed.", t["cases"],
                          passed=t.get("cases_passed", 0)) + " " + message
        if not passed and t.get("status") == "skipped":
            message = tr("skipped: {why}", why=message)
        if t.get("status") == "not_run":
            message = tr("This test did not run.")
        test_id = t.get("name", "?")
        tests.append({
            "name": test_id,
            "status": "pass" if passed else "fail",
            "score": _num(t.get("score", 0)) if status != "error" else 0,
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


def runner_id(test_id: str, taken: set[str]) -> str:
    """The reporter's name for a test's runner (an environment variable's stem): the test's
    name without ``test_``, made unique with its file's name when two files share it."""
    file, _, name = test_id.partition("::")
    base = re.sub(r"\W", "_", name.removeprefix("test_")) or "test"
    rid = base if base.upper() not in taken else re.sub(r"\W", "_", Path(file).stem) + "_" + base
    while rid.upper() in taken:
        rid += "_"
    taken.add(rid.upper())
    return rid


def _case_names(points: dict, test: dict) -> list[tuple[str, str, str]]:
    """(name, status, message) of each case of `test`, in the order they ran."""
    prefix = test["name"]
    cases = [c for c in points.get("cases", []) if str(c.get("nodeid", "")).split("[", 1)[0] == prefix]
    if len(cases) != test.get("cases", 0) or not cases:
        n = max(int(test.get("cases", 0) or 0), 1)
        passed = int(test.get("cases_passed", 0) or 0)
        return [(_short(test) + (f" [{i + 1}/{n}]" if n > 1 else ""), "passed" if i < passed else "failed", "")
                for i in range(n)]
    return [(str(c["nodeid"]).rsplit("::", 1)[-1], c.get("status", ""), c.get("message", "") or "") for c in cases]


def runner_results(points: dict | None, error: str = "") -> dict[str, dict]:
    """Runner id -> the ``result`` of one runner, one per counted test, with one entry per case
    (every case of a test is worth the same, so the reporter's two totals agree)."""
    status, why = run_status(points)
    why = error or why
    tests = gradable(points or {})
    if not tests:  # nothing to lay out: one runner that says why (the reporter needs at least one)
        return {"autograding": {"version": RESULT_VERSION, "status": "error", "max_score": 0, "tests": [
            {"name": "public tests", "status": "error", "score": 0, "message": _clean(why or "no test ran", MAX_MESSAGE),
             "test_code": "python -m pytest tests", "filename": "", "line_no": 0, "duration": 0}]}}
    taken: set[str] = set()
    runners = {}
    for t in tests:
        max_score = float(t.get("max_score", 0))
        cases = _case_names(points, t)
        earned = round(float(t.get("score", 0)) / max_score * len(cases)) if max_score else 0
        own = sum(c[1] == "passed" for c in cases)
        entries = []
        for i, (name, case_status, message) in enumerate(cases):
            # A test scored below its own passed cases is gated (it counts once another test
            # passes): none of its cases count then.
            passed = status != "error" and case_status == "passed" and own == earned
            if not passed:
                message = message or (why if status == "error" else t.get("output", "")) or _no_message(t)
            entries.append({
                "name": name, "status": "pass" if passed else "fail",
                "score": max_score / len(cases) if passed else 0,
                # (the reporter shows names, not messages: the first failure's in full, the
                # others short, so one runner stays far below the environment's limits)
                "message": "" if passed else _clean(message, MAX_MESSAGE if not any(
                    e["status"] == "fail" for e in entries) else 100),
                # (printed under every entry by the reporter: once per test is enough)
                "test_code": f'python -m pytest "{t["name"]}"' if i == 0 else "",
                "filename": str(t["name"]).split("::", 1)[0], "line_no": 0,
                "duration": t.get("duration", 0) if i == 0 else 0,
            })
        test_status = "error" if status == "error" else "pass" if all(e["status"] == "pass" for e in entries) else "fail"
        runners[runner_id(t["name"], taken)] = {"version": RESULT_VERSION, "status": test_status,
                                               "max_score": max_score, "tests": entries}
    return runners


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
    if points is None or status == "error":
        why = error or run_status(points)[1]
        lines += ["**" + tr("The points could not be computed:") + f"** {_cell(why, 1000)}", ""]
        if points and gradable(points):  # (the same maximum as every other run: this one earns 0)
            lines += [tr("**0 / {max_score} points**: a run that did not end normally records none.",
                         max_score=_fmt(sum(t["max_score"] for t in gradable(points)))), ""]
        return "\n".join(lines) + "\n"
    tests = gradable(points)
    score = sum(t["score"] for t in tests)
    max_score = sum(t["max_score"] for t in tests)
    lines.append(trn("**{score} / {max_score} points** from the {n} public test that counts here.",
                     "**{score} / {max_score} points** from the {n} public tests that count here.",
                     len(tests), score=_fmt(score), max_score=_fmt(max_score)))
    if status == "error":
        lines += ["", f"⚠️ {_cell(run_status(points)[1], 1000)}"]
    notes = []
    pending = waiting_for_gpu(points)
    if pending:
        notes.append(trp("{points} point waits for a real GPU (tests: {n}); it is graded when your work is.",
                         "{points} points wait for a real GPU (tests: {n}); they are graded when your work is.",
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
            message = t.get("output", "") or _no_message(t)
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
    lang = (points or {}).get("lang")
    with i18n.using(lang if lang in i18n.LANGUAGES else "en"):
        return _main(points, error)


def _main(points: dict | None, error: str) -> int:
    result = classroom_result(points, error)
    summary = summary_markdown(points, result, error)
    print(summary)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        _append(os.environ["GITHUB_STEP_SUMMARY"], summary)
    runners = runner_results(points, error)
    if os.environ.get("GITHUB_ENV"):
        _append(os.environ["GITHUB_ENV"], "".join(f"{rid.upper()}_RESULTS={encode_result(r)}\n"
                                                  for rid, r in runners.items()))
    if os.environ.get("GITHUB_OUTPUT"):
        earned = sum(t["score"] for t in result["tests"])
        _append(os.environ["GITHUB_OUTPUT"],
                f"runners={','.join(runners)}\nstatus={result['status']}\n"
                f"score={_fmt(earned)}\nmax_score={_fmt(result['max_score'])}\n")
    if result["status"] == "pass":
        return 0
    why = error or run_status(points)[1]
    if not why:
        lost = any(t["status"] != "pass" for t in result["tests"])
        why = tr("some public tests lost points: see the table above") if lost else \
            tr("pytest reported a failure outside the graded tests: see the test step's log")
    title = tr("Public tests")
    print(f"::error title={title}::{why}" if os.environ.get("GITHUB_ACTIONS") else why, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
