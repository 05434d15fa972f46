"""nbgrader's formgrader on the course folder `autograder export nbgrader` writes, driven in a
real headless Chromium as a TA uses it: the students and their autograded scores are listed, the
analysis notebook opens in Manual Grading, a score typed there is saved, and the real
`nbgrader export` then counts it in the student's total.

Nothing is graded here: the batch holds the records the grader's own scoring gives three of the
bundled examples (examples/examples.json, as autograder/expected.py computes them), submitted
as a git repository, a .zip and a folder. Chromium and chromedriver are the system's (apt-get
install chromium chromium-driver; .ci/run installs them); without them the test is skipped.
Screenshots of each page go to $FORMGRADER_SCREENSHOTS when it is set (docs/img/platforms/ holds
the copies docs/platforms/nbgrader.md shows), else to the test's temporary folder.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from autograder import cli, examples
from autograder.expected import expected_tasks
from autograder.tests import REPO, collected
from autograder.tests.test_export_nbgrader import answered_notebook, git_submission, write_student
from hwkit.grading import load_grading
from hwkit.record import build

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=(
    "the formgrader test needs the system's Chromium and chromedriver (apt-get install chromium "
    "chromium-driver; .ci/run installs them)"))

GRADING = load_grading(REPO / "grading.yml")
ASSIGNMENT = GRADING.assignment
STUDENTS = {"alice": "full_marks", "bob": "partial", "carol": "broken"}  # student -> example
WAIT_S = 30  # the longest any one page may take to show what is waited for
MANUAL_SCORE = 2.5  # what the TA gives bob's answer (a)

ANSWERS = {  # what the students wrote in the analysis notebook (carol submitted none)
    "alice": {
        "answer_a": "**matmul** and **transpose** gain the most (about 20×): they do a lot of arithmetic per "
                    "element, so thousands of GPU cores stay busy; `sum` gains less, it only reads memory.",
        "answer_b": "Every CUDA call has a fixed launch cost of a few microseconds, and small tensors cannot fill "
                    "the GPU, so the CPU wins on 64×64.",
        "answer_c": "Speed-up grows with size until the GPU is saturated: the fixed overhead is paid once and the "
                    "work grows as n³ for matmul.",
        "answer_d": "A copy over PCIe costs more than a small kernel, and `.item()` waits for the GPU to finish. "
                    "Keep data on the device and synchronise once.",
    },
    "bob": {
        "answer_a": "The GPU is faster for everything because it has more cores.",
        "answer_b": "Some are slower because of overhead.",
        "answer_c": "Bigger is faster.",
        "answer_d": "Transfers are slow, use `.cuda()` early.",
    },
}


# -- the batch and the course folder ---------------------------------------------------------------
def student_notebook(student: str) -> str:
    """The released notebook with the student's answers, and the reference's chart as the plot
    cell's code and output (the formgrader shows outputs as submitted: nothing is run)."""
    reference = json.loads((REPO / "solutions" / "analysis.ipynb").read_text(encoding="utf-8"))
    plot = next(c for c in reference["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "speedup_plot")

    def answer(cells):
        for cell in cells:
            grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if grade_id in ANSWERS[student]:
                cell["source"] = ANSWERS[student][grade_id]
            elif grade_id == "speedup_plot":
                cell.update(source=plot["source"], outputs=plot["outputs"], execution_count=1)
    return answered_notebook(student, answer)


def make_batch(tmp_path: Path) -> tuple[Path, dict[str, float]]:
    """The batch folder of three students, and each one's automatic score."""
    specs, subs, out = examples.load(), tmp_path / "submissions", tmp_path / "batch"
    scores = {}
    for student, example in STUDENTS.items():
        spec = specs[example]
        tasks = expected_tasks(GRADING, collected(), tuple(spec.get("loses", ())), tuple(spec.get("keeps", ())))
        result = build(ASSIGNMENT, student, tasks, execution_time=2.0, sandbox={"isolation": "bubblewrap"},
                       worker_restarts=0, gpu="off", errors=[])
        scores[student] = result.score
        folder = examples.materialize(subs / student, spec.get("modules"), name=example)
        files = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()}
        if student == "alice":  # a git repository, graded at its commit
            commit = git_submission(folder, {"analysis.ipynb": student_notebook(student)})
            write_student(out, student, result, source=folder, commit=commit)
        elif student == "bob":  # a .zip with the homework in a folder
            with zipfile.ZipFile(subs / "bob.zip", "w") as z:
                for name, text in {**files, "analysis.ipynb": student_notebook(student)}.items():
                    z.writestr(f"hw1/{name}", text)
            write_student(out, student, result, source=subs / "bob.zip", kind="zip")
        else:  # a folder without the notebook
            write_student(out, student, result, source=folder, kind="dir")
    return out, scores


def isolated_env(home: Path) -> dict[str, str]:
    """This Python's tools first on PATH; no Jupyter or nbgrader configuration but the course's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"), JUPYTER_DATA_DIR=str(home / ".data"),
               JUPYTER_RUNTIME_DIR=str(home / ".runtime"), JUPYTER_PLATFORM_DIRS="1",
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    return env


# -- the formgrader and the browser ----------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def formgrader(course: Path, home: Path) -> Iterator[str]:
    """`jupyter server` started in the course folder, as a TA starts it (the formgrader is one of
    its extensions; the course's nbgrader_config.py says where the gradebook is); yields its URL.
    It runs in a process group of its own, ended (all of it) however the test ends."""
    from selenium.webdriver.support.ui import WebDriverWait

    port, token = free_port(), secrets.token_hex(16)
    log = (home / "formgrader.log").open("wb")
    argv = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            "--port-retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    proc = subprocess.Popen(argv, cwd=course, env=isolated_env(home), stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up(_) -> bool:
        assert proc.poll() is None, "the server exited: " + (home / "formgrader.log").read_text("utf-8", "replace")
        with urllib.request.urlopen(f"{url}/formgrader/api/assignments?token={token}", timeout=2) as r:
            return r.status == 200

    try:
        WebDriverWait(proc, WAIT_S, poll_frequency=0.2, ignored_exceptions=(OSError,)).until(
            up, "the formgrader did not answer")
        yield f"{url}/formgrader/%s?token={token}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@contextlib.contextmanager
def chromium(log: Path) -> Iterator:
    """Headless Chromium through the system's chromedriver (Selenium Manager is never asked for
    one); every host but this machine fails to resolve, so nothing is fetched from the network."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", "--no-first-run", "--disable-background-networking",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER, log_output=str(log)), options=options)
    try:
        driver.set_page_load_timeout(WAIT_S)
        yield driver
    finally:
        driver.quit()


def table(driver, key: str, value: str, expected: set[str]) -> dict[str, str]:
    """The main table once it lists exactly `expected` (the texts of its `key` cells, as shown):
    key text -> the text of the row's `value` cell."""
    from selenium.webdriver.support.ui import WebDriverWait

    def listed(d):
        found = d.execute_script(
            "return Array.from(document.querySelectorAll('#main-table tr')).map(tr => ["
            "  (tr.querySelector('td.' + arguments[0]) || {}).innerText,"
            "  (tr.querySelector('td.' + arguments[1]) || {}).innerText]);", key, value)
        by_key = {(k or "").strip(): (v or "").strip() for k, v in found}
        return by_key if set(by_key) == expected and all(by_key.values()) else False
    return WebDriverWait(driver, WAIT_S).until(listed, f"the table never listed {sorted(expected)}")


def shown(score: float, max_score: float = 100) -> str:
    """A score as the formgrader's pages show it (two decimals at most)."""
    return f"{round(score, 2):g} / {round(max_score, 2):g}"


def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FORMGRADER_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- the test --------------------------------------------------------------------------------------
def test_a_ta_grades_the_analysis_in_the_formgrader_and_nbgrader_export_counts_it(tmp_path, capsys):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    out, scores = make_batch(tmp_path)
    course, home, shots = tmp_path / "course", tmp_path / "home", screenshots(tmp_path)
    home.mkdir()
    assert cli.main(["export", "nbgrader", "--db", str(course / "gradebook.db"), "--results", str(out)]) == 0
    printed = capsys.readouterr()
    assert "no notebook for carol: analysis.ipynb is not in the submission" in " ".join(printed.err.split())
    assert (course / "source" / ASSIGNMENT / "analysis.ipynb").is_file()

    max_score = GRADING.total
    with formgrader(course, home) as page, chromium(tmp_path / "chromedriver.log") as driver:
        # Manage Students: every student with the automatic total
        driver.get(page % "manage_students")
        students = table(driver, "id", "score", set(scores))
        assert students == {sid: shown(score, max_score) for sid, score in scores.items()}
        driver.save_screenshot(str(shots / "nbgrader-students.png"))

        # Manage Submissions of the assignment: each student's score, autograded
        driver.get(page % f"manage_submissions/{ASSIGNMENT}")
        submissions = table(driver, "student-id", "score", set(scores))
        assert submissions == {sid: shown(score, max_score) for sid, score in scores.items()}
        driver.save_screenshot(str(shots / "nbgrader-submissions.png"))

        # Manual Grading -> the analysis notebook: alice and bob (carol has no notebook)
        driver.get(page % f"gradebook/{ASSIGNMENT}/analysis")
        table(driver, "name", "score", {"Submission #1", "Submission #2"})
        driver.find_element(By.ID, "toggle_names").click()
        listed = table(driver, "name", "score", {"alice", "bob"})
        assert listed == {"alice": shown(0, 10), "bob": shown(0, 10)}  # the analysis, not graded yet
        driver.save_screenshot(str(shots / "nbgrader-manual-grading-list.png"))
        driver.find_element(By.LINK_TEXT, "bob").click()

        # bob's notebook: his answers, a score box per graded cell; the TA scores answer (a)
        WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script(
            "return window.formgrader && formgrader.grades && formgrader.grades.loaded === true"))
        body = driver.find_element(By.ID, "notebook").text
        assert ANSWERS["bob"]["answer_a"] in body and ANSWERS["alice"]["answer_a"] not in body
        assert {e.get_attribute("id") for e in driver.find_elements(By.CSS_SELECTOR, "input.score")} == {
            "answer_a", "answer_b", "answer_c", "answer_d"}
        driver.execute_script("window.saves = 0; $(document).on('finished_saving', () => window.saves++);")
        box = driver.find_element(By.ID, "answer_a")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
        box.click()
        box.send_keys(str(MANUAL_SCORE), Keys.TAB)  # the change event, on leaving the field, saves it
        WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script("return window.saves") >= 1,
                                            "the score was not saved")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
        driver.save_screenshot(str(shots / "nbgrader-manual-grading.png"))

    # the real `nbgrader export`, in the course folder with only what the export wrote there
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "grades.csv"], cwd=course,
                          env=isolated_env(home), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with (course / "grades.csv").open(newline="", encoding="utf-8") as f:
        totals = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}
    assert totals == pytest.approx({**scores, "bob": scores["bob"] + MANUAL_SCORE})
    record = json.loads((course / "autograded" / "bob" / ASSIGNMENT / "analysis.ipynb").read_text(encoding="utf-8"))
    assert record["metadata"]["autograder"]["submitted_sha256"]  # what a re-export compares with
