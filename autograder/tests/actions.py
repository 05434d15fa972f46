"""One GitHub Actions job of a workflow file, run here step by step as the Actions runner runs it.

What it keeps of the runner (docs.github.com, "Workflow syntax" and "Workflow commands"):
``run`` steps in ``bash --noprofile --norc -eo pipefail`` with the job's environment, a fresh
``$GITHUB_OUTPUT`` and ``$GITHUB_STEP_SUMMARY`` per step and ``$GITHUB_ENV`` carried to the
steps after; ``${{ }}`` expressions over ``steps.<id>.outputs.<name>``, ``steps.<id>.outcome``,
``success()``, ``failure()``, ``cancelled()`` and ``always()``; a step's ``if`` (``success()``
when absent); ``continue-on-error`` (the outcome stays "failure", the conclusion becomes
"success"); the job fails when a step's conclusion is "failure". A ``uses`` step runs only if
the test hands it an action (a callable taking the step's inputs and environment; node actions
get inputs as ``INPUT_<NAME>``); the others (checkout, setup-python) are the test's own set-up.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

Action = Callable[[dict[str, str], dict[str, str], Path], subprocess.CompletedProcess]


@dataclass
class Step:
    name: str
    ran: bool
    outcome: str = "skipped"  # success | failure | skipped
    conclusion: str = "skipped"
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""


@dataclass
class Job:
    steps: list[Step]
    env: dict[str, str]

    @property
    def result(self) -> str:
        return "failure" if any(s.conclusion == "failure" for s in self.steps) else "success"

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


def _read_file_commands(path: Path) -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIM`` blocks ($GITHUB_OUTPUT, $GITHUB_ENV)."""
    values: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            values[name] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        i += 1
    return values


_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>&&|\|\||==|!=|!|\(|\))|(?P<ctx>steps\.[\w-]+\.(?:outputs\.[\w-]+|outcome|conclusion))"
                    r"|(?P<fn>success|failure|cancelled|always)\(\)|(?P<lit>true|false))")


def evaluate(expr: str, steps: dict[str, Step], job_failed: bool) -> object:
    """The value of an expression in the subset this workflow uses (anything else is an error)."""
    expr = expr.strip()
    if expr.startswith("${{") and expr.endswith("}}"):
        expr = expr[3:-2]
    python, pos = [], 0
    while pos < len(expr.rstrip()):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError(f"expression not understood here: {expr!r} at {expr[pos:]!r}")
        pos = m.end()
        if m["str"]:
            python.append(repr(m["str"][1:-1].replace("''", "'")))
        elif m["op"]:
            python.append({"&&": " and ", "||": " or ", "!": " not "}.get(m["op"], m["op"]))
        elif m["ctx"]:
            _, sid, kind, *rest = m["ctx"].split(".")
            step = steps.get(sid)
            value = "" if step is None else step.outputs.get(rest[0], "") if kind == "outputs" else getattr(step, kind)
            python.append(repr(value))
        elif m["fn"]:
            python.append(repr({"success": not job_failed, "failure": job_failed, "cancelled": False,
                                "always": True}[m["fn"]]))
        else:
            python.append(m["lit"].capitalize())
    return eval("".join(python), {"__builtins__": {}}, {})  # only literals and operators are left


def substitute(text: str, steps: dict[str, Step], job_failed: bool) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(evaluate(m.group(1), steps, job_failed)), text)


def run_job(workflow: Path, job_name: str, workdir: Path, env: dict[str, str],
            actions: dict[str, Action] | None = None, skip: tuple[str, ...] = ()) -> Job:
    """Run `job_name` of `workflow` in `workdir`. `actions`: ``uses`` prefix -> its stand-in
    (a real client run here); `skip`: names of ``run`` steps the test has done itself (the install)."""
    spec = yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"][job_name]
    temp = workdir / ".runner"
    temp.mkdir(exist_ok=True)
    job_env = {**env, **{k: str(v) for k, v in (spec.get("env") or {}).items()},
               "GITHUB_ACTIONS": "true", "CI": "true", "RUNNER_TEMP": str(temp)}
    done: list[Step] = []
    by_id: dict[str, Step] = {}
    failed = False
    for i, raw in enumerate(spec["steps"]):
        name = raw.get("name") or raw.get("id") or raw.get("uses") or f"step {i}"
        condition = raw.get("if", "success()")
        step = Step(name=name, ran=False)
        done.append(step)
        if raw.get("id"):
            by_id[raw["id"]] = step
        if not evaluate(str(condition), by_id, failed) or name in skip:
            continue
        files = {k: temp / f"{k.lower()}-{i}" for k in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
        env_file = temp / "github_env"
        step_env = {**job_env, **{k: substitute(str(v), by_id, failed) for k, v in (raw.get("env") or {}).items()},
                    **{k: str(p) for k, p in files.items()}, "GITHUB_ENV": str(env_file)}
        if "run" in raw:
            script = temp / f"step-{i}.sh"
            script.write_text(substitute(raw["run"], by_id, failed), encoding="utf-8")
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workdir,
                                  env=step_env, capture_output=True, text=True, timeout=900)
        else:
            action = next((a for prefix, a in (actions or {}).items() if raw["uses"].startswith(prefix)), None)
            if action is None:
                continue  # set-up the test did itself
            inputs = {k: substitute(str(v), by_id, failed) for k, v in (raw.get("with") or {}).items()}
            proc = action(inputs, step_env, workdir)
        step.ran = True
        step.stdout, step.stderr = proc.stdout, proc.stderr
        step.outcome = "success" if proc.returncode == 0 else "failure"
        step.conclusion = "success" if step.outcome == "success" or raw.get("continue-on-error") else "failure"
        step.outputs = _read_file_commands(files["GITHUB_OUTPUT"])
        step.summary = files["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8") \
            if files["GITHUB_STEP_SUMMARY"].exists() else ""
        job_env.update(_read_file_commands(env_file))
        env_file.unlink(missing_ok=True)
        failed = failed or step.conclusion == "failure"
    return Job(steps=done, env=job_env)


def node_action(main_js: Path) -> Action:
    """A JavaScript action run with node as Actions runs it: inputs as INPUT_<NAME>."""
    def run(inputs: dict[str, str], env: dict[str, str], workdir: Path) -> subprocess.CompletedProcess:
        full = {**env, **{f"INPUT_{k.replace(' ', '_').upper()}": v for k, v in inputs.items()}}
        return subprocess.run(["node", str(main_js)], cwd=workdir, env=full, capture_output=True, text=True,
                               timeout=120)
    return run


def os_environ_without(*prefixes: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
