"""The wire format rejects hostile messages; grading.yml errors name the file, key and line."""

from __future__ import annotations

import pytest
import torch

from autograder.sandbox import wire
from hwkit import probes
from hwkit.grading import GradingConfigError, load_grading


def roundtrip(value, known=None, make_probe=lambda cls, number, fields: ("probe", cls.__name__, number, fields)):
    enc = wire.Encoder(lambda o: {"$handle": 1, "type": type(o).__name__}, probes.REGISTRY, probes.TORCH_FUNCTIONS)
    node = enc.encode(value)
    header, blobs = wire.unpack(wire.pack({"v": node, "storages": enc.storages}, enc.blobs)[8:])
    dec = wire.Decoder(header["storages"], blobs, handle=lambda n: ("handle", n["type"]), make_probe=make_probe,
                       probes=probes.REGISTRY, torch_functions=probes.TORCH_FUNCTIONS, mark_remote=True)
    return dec.decode(header["v"])


def test_plain_data_views_and_probes_round_trip_exactly():
    base = torch.arange(24, dtype=torch.float64).reshape(2, 3, 4)
    value = {"t": base, "view": base[:, 1, ::2], (2, 12): 1.5, "n": None, "flag": True,
             "shape": torch.Size([2, 3]), "dtype": torch.int64, "f": torch.matmul, "nan": float("nan"),
             "items": [1, (2, "x")]}
    out = roundtrip(value)
    assert type(out["t"]) is torch.Tensor and torch.equal(out["t"], base)
    assert out["view"].untyped_storage().data_ptr() == out["t"].untyped_storage().data_ptr()
    assert torch.equal(out["view"], base[:, 1, ::2])
    assert out[(2, 12)] == 1.5 and type(out[(2, 12)]) is float and out["flag"] is True
    assert out["shape"] == torch.Size([2, 3]) and out["dtype"] is torch.int64
    assert out["f"] is torch.matmul and out["nan"] != out["nan"] and out["items"] == [1, (2, "x")]


def test_a_probe_the_grader_runs_crosses_as_a_number_only():
    """The worker learns nothing of a timing probe (not even its duration): it can only ask the
    grader to run it. A probe the worker runs itself (math to differentiate) brings its fields."""
    sleep, cube = probes.Sleep(ms=7, first_ms=90, calls=3), probes.Elementwise("cube")
    assert roundtrip([sleep, cube, sleep]) == [("probe", "Sleep", 0, None),
                                               ("probe", "Elementwise", 1, {"name": "cube", "calls": 0}),
                                               ("probe", "Sleep", 2, None)]


def test_the_trusted_side_refuses_any_probe_in_a_reply():
    with pytest.raises(wire.ProtocolError, match="probe"):
        roundtrip(probes.Sleep(ms=1), make_probe=None)


@pytest.mark.parametrize("header, why", [
    ({"v": {"$dict": [[{"$tuple": [{"$list": []}]}, 1]]}}, "hashable"),
    ({"v": None, "storages": [{"nbytes": 0, "blob": 0}] * (wire.MAX_STORAGES + 1)}, "MAX_STORAGES"),
])
def test_hostile_tables_and_keys_are_protocol_errors(header, why):
    """Not a TypeError from deep inside the decoder, nor millions of storages built."""
    blobs = [memoryview(b"")] * len(header.get("storages", []))
    with pytest.raises(wire.ProtocolError, match=why):
        _decode(header, blobs)


def test_objects_that_are_not_plain_data_become_handles():
    class Sub(torch.Tensor):
        pass

    class Weird(dict):
        pass

    out = roundtrip([torch.zeros(2).as_subclass(Sub), Weird(a=1), object()])
    assert out == [("handle", "Sub"), ("handle", "Weird"), ("handle", "object")]


def _decode(header, blobs=()):
    dec = wire.Decoder(header.get("storages", []), list(blobs), handle=lambda n: n,
                       probes=probes.REGISTRY, torch_functions=probes.TORCH_FUNCTIONS)
    return dec.decode(header["v"])


@pytest.mark.parametrize("spec, why", [
    ({"dtype": "float32", "shape": [10], "stride": [1], "offset": 0, "storage": 0}, "outside"),
    ({"dtype": "float32", "shape": [2], "stride": [1], "offset": 3, "storage": 0}, "outside"),
    ({"dtype": "object", "shape": [1], "stride": [1], "offset": 0, "storage": 0}, "description"),
    ({"dtype": "float32", "shape": [-1], "stride": [1], "offset": 0, "storage": 0}, "description"),
    ({"dtype": "float32", "shape": [1], "stride": [1], "offset": 0, "storage": 7}, "description"),
])
def test_hostile_tensor_descriptions_are_rejected(spec, why):
    header = {"v": {"$tensor": spec}, "storages": [{"nbytes": 16, "blob": 0}]}
    with pytest.raises(wire.ProtocolError, match=why):
        _decode(header, [memoryview(bytes(16))])


def test_the_grader_not_the_worker_says_which_devices_and_sizes_exist():
    storages = [{"nbytes": 4, "blob": 0}]
    blob = [memoryview(bytes(4))]
    on_gpu = {"dtype": "float32", "shape": [1], "stride": [1], "offset": 0, "storage": 0, "device": "cuda:0"}
    huge = {"dtype": "float32", "shape": [30000, 30000], "stride": [0, 0], "offset": 0, "storage": 0}

    def decode(spec, **kw):
        return wire.Decoder(storages, blob, handle=lambda n: n, probes=probes.REGISTRY,
                            torch_functions=probes.TORCH_FUNCTIONS, **kw).decode({"$tensor": spec})

    with pytest.raises(wire.ProtocolError, match="found no GPU"):
        decode(on_gpu, gpu=False)
    with pytest.raises(wire.ProtocolError, match="found no GPU"):
        wire.Decoder([], [], handle=lambda n: n, probes={}, torch_functions={}, gpu=False).decode({"$device": "cuda"})
    assert decode(on_gpu, gpu=True).shape == (1,)  # (a machine with a GPU: the label is allowed)
    # Four bytes that claim 900 million elements: refused by their shape, nothing expanded.
    with pytest.raises(wire.ProtocolError, match="max_elements"):
        decode(huge, max_elements=2**24)
    assert decode(dict(huge, shape=[4, 4]), max_elements=2**24).shape == (4, 4)


@pytest.mark.parametrize("node", [{"$pickle": "x"}, {"$probe": "os.system", "state": {"$dict": []}},
                                  {"$torchfn": "torch.load"}, [1, 2], {"$dict": [[{"$list": []}, 1]]}])
def test_unknown_tags_and_unsafe_values_are_rejected(node):
    with pytest.raises(wire.ProtocolError):
        _decode({"v": node})


def test_deep_nesting_and_bad_frames_are_rejected():
    node = 1
    for _ in range(100):
        node = {"$list": [node]}
    with pytest.raises(wire.ProtocolError, match="deeply"):
        _decode({"v": node})
    with pytest.raises(wire.ProtocolError):
        wire.unpack(b"\xff\xff\xff\x00{}")
    frame = wire.pack({"a": 1}, [b"abc"])[8:]
    with pytest.raises(wire.ProtocolError):
        wire.unpack(frame + b"extra")


GOOD = """assignment: demo
total: 30
tasks:
  task1:
    title: Tensors
    points: 20
    tests:
      tests/test_a.py::test_one: 12
      tests/test_a.py::test_two: 8
  analysis:
    title: Essay
    points: 10
    manual: true
modules: {tensors: {file: homework_tensors.py, task: task1}}
"""


def test_valid_grading_file_loads(tmp_path):
    path = tmp_path / "grading.yml"
    path.write_text(GOOD)
    cfg = load_grading(path)
    assert cfg.points_for("tests/test_a.py::test_two") == ("task1", 8)
    assert cfg.limits.call_timeout_s > 0


@pytest.mark.parametrize("edit, expected", [
    (("test_two: 8", "test_two: 7"), "grading.yml:4: tasks.task1: test points add up to 19 but the task is worth 20"),
    (("total: 30", "total: 31"), "grading.yml:1: (top level)"),
    (("test_two: 8", "test_two: -8"), "grading.yml:7: tasks.task1.tests: tests/test_a.py::test_two: points must be a positive number"),
    (("tests/test_a.py::test_one", "test_one"), "is not a test id"),
    (("title: Essay", "title: Essay\n    colour: red"), "grading.yml:12: tasks.analysis.colour: Extra inputs"),
    (("points: 20", "points: [20"), "not valid YAML"),
])
def test_grading_errors_point_to_the_line(tmp_path, edit, expected):
    path = tmp_path / "grading.yml"
    path.write_text(GOOD.replace(*edit))
    with pytest.raises(GradingConfigError) as info:
        load_grading(path)
    assert expected in str(info.value)


@pytest.mark.parametrize("edit, expected", [
    (("task: task1}", "task: task9}"), "modules.tensors.task: 'task9' is not one of the tasks (task1, analysis)"),
    (("{tensors:", "{close:"), "'close' cannot name a module"),
    (("homework_tensors.py", "homework-tensors.py"), "modules.tensors.file: String should match pattern"),
    (("modules: {", "suites: {public: [../elsewhere]}\nmodules: {"), "'../elsewhere' is not a folder inside the course"),
    (("modules: {", "suites: {public: [tests], hidden: [tests]}\nmodules: {"), "tests is both public and hidden"),
])
def test_modules_and_suites_are_declared_once_and_checked(tmp_path, edit, expected):
    path = tmp_path / "grading.yml"
    path.write_text(GOOD.replace(*edit))
    with pytest.raises(GradingConfigError) as info:
        load_grading(path)
    assert expected in str(info.value)
    path.write_text(GOOD)
    grading = load_grading(path)
    assert grading.module_names() == {"tensors": "homework_tensors"}
    assert grading.suite_folders() == ["tests"]  # the default: one public suite, nothing hidden
    assert grading.is_public("tests/test_a.py::test_one[x]") and not grading.is_public("hidden/t.py::test_one")


def test_missing_grading_file_says_so(tmp_path):
    with pytest.raises(GradingConfigError, match="file not found"):
        load_grading(tmp_path / "nope.yml")


def test_json_nested_beyond_python_recursion_is_a_protocol_error():
    body = b'{"ok":' + b"[" * 100_000 + b"]" * 100_000 + b',"blobs":[]}'
    import struct

    with pytest.raises(wire.ProtocolError, match="nested"):
        wire.unpack(struct.pack("<I", len(body)) + body)


def test_storage_bytes_are_the_tensor_bytes():
    t = torch.arange(6, dtype=torch.float32)
    assert wire.storage_bytes(t.untyped_storage()) == t.numpy().tobytes()
    assert wire.storage_bytes(torch.empty(0).untyped_storage()) == b""


# -- requires: an error/side-effect test counts only once its function gave a right answer --

REQUIRES = GOOD.replace("      tests/test_a.py::test_two: 8\n", "      tests/test_a.py::test_two: 8\n"
                        "    requires:\n      tests/test_a.py::test_two: tests/test_a.py::test_one\n")


def _scores(tmp_path, outcomes):
    from hwkit.scoring import CaseOutcome, score

    path = tmp_path / "grading.yml"
    path.write_text(REQUIRES)
    tasks = score(load_grading(path), [CaseOutcome(n, s) for n, s in outcomes])
    return {t.test_id.split("::")[1]: t for t in tasks[0].tests}


def test_a_required_test_with_no_passed_case_gates_its_dependent(tmp_path):
    tests = _scores(tmp_path, [("tests/test_a.py::test_one[a]", "failed"), ("tests/test_a.py::test_one[b]", "failed"),
                               ("tests/test_a.py::test_two", "passed")])
    assert tests["test_two"].score == 0 and tests["test_two"].status == "failed"
    assert "make test_one pass first" in tests["test_two"].message
    # One right answer is enough: the dependent then earns its own points.
    tests = _scores(tmp_path, [("tests/test_a.py::test_one[a]", "passed"), ("tests/test_a.py::test_one[b]", "failed"),
                               ("tests/test_a.py::test_two", "passed")])
    assert tests["test_two"].score == 8 and tests["test_two"].status == "passed"
    assert tests["test_one"].score == 6


def test_a_required_test_pending_a_gpu_leaves_its_dependent_pending(tmp_path):
    tests = _scores(tmp_path, [("tests/test_a.py::test_one", "pending_gpu"), ("tests/test_a.py::test_two", "passed")])
    assert tests["test_two"].status == "pending_gpu" and tests["test_two"].score == 0


@pytest.mark.parametrize("requires, expected", [
    ("tests/test_a.py::test_two: tests/test_a.py::test_nope", "tests/test_a.py::test_nope is not one of this task's tests"),
    ("tests/test_a.py::test_two: tests/test_a.py::test_two", "cannot require itself"),
])
def test_bad_requires_entries_are_named(tmp_path, requires, expected):
    path = tmp_path / "grading.yml"
    path.write_text(REQUIRES.replace("tests/test_a.py::test_two: tests/test_a.py::test_one", requires))
    with pytest.raises(GradingConfigError, match="grading.yml:4: tasks.task1: requires") as info:
        load_grading(path)
    assert expected in str(info.value)


def test_messages_lose_terminal_escapes_and_cannot_close_their_code_block():
    from autograder.report.feedback import _fenced
    from hwkit.record import clean_text

    assert clean_text("\x1b[2J\x1b[32mPASSED\x1b[0m\x07 ok\n") == "PASSED ok\n"
    assert len(clean_text("x" * 100_000)) < 4100
    fence, body, close = _fenced("text ``` ## Score 90/90")
    assert fence == "````text" and close == "````"


@pytest.mark.parametrize("ms", [float("nan"), float("inf"), 1e12])
def test_a_probe_in_the_grader_never_sleeps_past_the_calls_deadline(ms):
    import time

    from hwkit import simcuda

    started = time.perf_counter()
    with simcuda.deadline(started + 0.05), pytest.raises((simcuda.OutOfTime, TypeError)):
        probes.KwargSleep()(ms=ms)  # refused outright, or stopped at the deadline
    with simcuda.deadline(started + 0.05), pytest.raises(simcuda.OutOfTime):
        simcuda.sleep_until(started + ms / 1000)
    assert time.perf_counter() - started < 0.5


def test_instant_waits_skip_the_sleeping_only_inside_the_block():
    """A batch's warm-up grades the reference without its probes' sleeps; nothing after it may skip one."""
    import time

    from hwkit import simcuda

    started = time.perf_counter()
    with simcuda.instant_waits():
        simcuda.sleep_until(started + 5)
        assert probes.Sleep(ms=5000)() == 1
    assert time.perf_counter() - started < 0.5
    started = time.perf_counter()
    probes.Sleep(ms=50)()
    assert time.perf_counter() - started >= 0.05


def test_check_names_a_property_test_that_counts_without_a_right_answer(tmp_path):
    """Take one gate out of grading.yml: `autograder check` must name that test, and only it."""
    from autograder import gates
    from autograder.course import Course
    from autograder.tests import REPO

    text = (REPO / "grading.yml").read_text(encoding="utf-8")
    gate = ("      tests/test_tensors.py::test_index_tensor_returns_views: "
            "tests/test_tensors.py::test_index_tensor_values\n")
    assert gate in text
    ungated = tmp_path / "grading.yml"
    ungated.write_text(text.replace(gate, ""), encoding="utf-8")
    course = Course(REPO)
    assert gates.ungated(course, load_grading(REPO / "grading.yml"), REPO / "grading.yml") == []
    found = gates.ungated(course, load_grading(ungated), ungated)
    assert len(found) == 1 and found[0].startswith("tests/test_tensors.py::test_index_tensor_returns_views")


def test_only_a_stubs_message_means_not_started():
    """PyTorch's own NotImplementedError (an operation a device or layout lacks) is an error in the
    student's code, reported as such; only the stub's sentence lists a function as not started."""
    from hwkit import checks
    from hwkit.record import TestResult

    def stub():
        raise NotImplementedError("Task 1.4: reshape_tensor is not implemented yet")

    def pytorch():
        return torch.ones(2, device="meta").tolist()  # NotImplementedError: Cannot copy out of meta tensor

    with pytest.raises(NotImplementedError, match="not implemented yet"):
        checks.raises(ValueError, "reshape_tensor(t)", stub)
    with pytest.raises(pytest.fail.Exception, match="should raise ValueError, but it raised NotImplementedError: "
                                                    "Cannot copy out of meta tensor"):
        checks.raises(ValueError, "reshape_tensor(t)", pytorch)
    failed = dict(name="tests/test_x.py::test_y", task="task1", score=0, max_score=1, status="failed")
    assert TestResult(output="NotImplementedError: Task 1.4: reshape_tensor is not implemented yet  "
                             "[homework_tensors.py, line 9, in reshape_tensor]", **failed).not_started() == \
        ("1", "reshape_tensor")
    assert TestResult(output="NotImplementedError: Cannot copy out of meta tensor; no data!", **failed).not_started() \
        is None


@pytest.mark.parametrize("source, line, how", [
    ("import torch\ndef f(X, w):\n    return torch.autograd.functional.hessian(g, w)\n", 3, ""),
    ("import torch.autograd.functional as F\ndef f(X, w):\n    return F.hessian(g, w)\n", 3, ""),
    ("from torch.autograd.functional import hessian as h\ndef f(X, w):\n    return h(g, w)\n", 3, ""),
    ("import torch\n_h = torch.func.hessian\ndef _go(w):\n    return _h(g)(w)\ndef f(X, w):\n    return _go(w)\n", 4,
     ""),
    ("import torch\ndef f(X, w):\n    return getattr(torch.autograd.functional, 'hessian')(g, w)\n", 3, "getattr"),
    ("import importlib\ndef f(X, w):\n    return importlib.import_module('torch.func').hessian\n", 3, ""),
    ("import torch\ndef f(X, w):\n    return torch.autograd.grad(w @ X @ w, w, create_graph=True)\n"
     "def g():\n    return torch.autograd.functional.hessian\n", None, None),  # (another function may)
    ("def f(X, w:\n", None, None),  # (does not parse: other tests report it)
], ids=["plain", "alias", "from-import", "helper", "getattr", "import_module", "clean", "syntax-error"])
def test_forbidden_calls_are_found_in_the_source_without_running_it(source, line, how):
    from hwkit.forbidden import uses

    found = uses(source, "f", ["torch.autograd.functional.hessian", "torch.func.hessian"])
    if line is None:
        assert found == []
    else:
        assert found and found[0].line == line and found[0].how == how, found


@pytest.mark.parametrize("source, reached", [
    ("import torch\ndef f(X, w):\n    return torch.autograd.grad(w @ X @ w, w)\n", True),
    ("from torch.autograd import grad as g\ndef f(X, w):\n    return g(w @ X @ w, w)\n", True),
    ("def _go(loss):\n    loss.backward()\ndef f(X, w):\n    _go(w @ X @ w)\n    return w.grad\n", True),
    ("def f(X, w):\n    return 2 * X.T @ X\n", False),
    ("import torch\ndef f(X, w):\n    return 2 * X.T @ X\ndef g(w):\n    return torch.autograd.grad(w, w)\n", False),
    ("def f(X, w:\n", True),  # (does not parse: other tests report it)
], ids=["dotted", "alias", "method-in-helper", "closed-form", "another-function", "syntax-error"])
def test_a_required_call_is_found_in_the_source_without_running_it(source, reached):
    from hwkit.forbidden import calls_any

    assert calls_any(source, "f", ["torch.autograd.grad", ".backward"]) is reached


@pytest.mark.parametrize("gpu", [False, True])
def test_a_gpu_sandbox_has_no_address_space_limit_and_says_what_caps_memory(gpu):
    """cuInit fails under RLIMIT_AS (the driver reserves address space far beyond any limit): a
    sandbox with the machine's GPU leaves it off, and the results say what caps memory instead."""
    import os
    import resource

    from autograder.sandbox import isolation
    from hwkit.grading import Limits

    limits = Limits()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # (the child sets its limits as the zygote's child does, and reports them)
        try:
            isolation.set_rlimits(limits, None, address_space=not gpu)
            os.write(write_end, str(resource.getrlimit(resource.RLIMIT_AS)[0]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    got = int(os.read(read_end, 64))
    os.close(read_end)
    os.waitpid(pid, 0)
    assert got == (resource.RLIM_INFINITY if gpu else limits.memory_mb * 2**20)
    memory = isolation.detect().summary(gpu=gpu)["memory"]
    assert ("RLIMIT_AS" in memory and "no RLIMIT_AS" not in memory) is (not gpu)


def test_the_grader_hides_the_gpu_from_itself_but_keeps_its_finding(monkeypatch):
    """Autograd in a process where CUDA counts a device marks its forks unable to run backward
    (seen on an H200: the batch's slots are forked from a parent that graded the reference)."""
    import os

    from autograder.sandbox import client

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # (restored by conftest's _grader_env_restored)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # (a GPU machine, as NVML says)
    client.machine_has_gpu.cache_clear()
    try:
        client.keep_cuda_out_of_grader()
        assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # (what CUDA would say now)
        assert client.machine_has_gpu() is True  # the finding made before hiding
    finally:
        client.machine_has_gpu.cache_clear()


def test_a_gpu_workers_landlock_lets_it_write_its_own_proc_entry_and_no_other():
    """The rule the CUDA driver needs (docs/gpu.md): the zygote's domain allows writing files
    under /proc, each worker's nested domain only under its own /proc/<pid>."""
    import os

    from autograder.sandbox import isolation, landlock

    if isolation.detect().landlock_abi < 3:
        pytest.skip("Landlock ABI < 3 here: no truncate right to grant")
    read = isolation.python_paths() + isolation.SYSTEM_READ
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # (the zygote's domain, then a forked worker's nested one, as worker.py does)
        seen = {}
        try:
            landlock.restrict(read, ["/dev/null"], [], ["/proc"])
            parent = os.getpid()
            child = os.fork()
            if child == 0:
                try:
                    landlock.restrict(read, ["/dev/null"], [], ["/proc/self"])
                except OSError as exc:
                    seen["restrict"] = repr(exc)
                for name, path in (("own", "/proc/self/comm"), ("parent", f"/proc/{parent}/comm"),
                                   ("own_truncate", "/proc/self/comm")):
                    try:
                        with open(path, "w" if name == "own_truncate" else "r+") as f:
                            f.write("probe")
                        seen[name] = "written"
                    except OSError as exc:
                        seen[name] = type(exc).__name__
                os.write(write_end, repr(seen).encode())
                os._exit(0)
            os.waitpid(child, 0)
        except OSError as exc:
            os.write(write_end, repr({"restrict": repr(exc)}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    seen = eval(os.read(read_end, 4096).decode())  # noqa: S307 - our own child's repr of a dict of str
    os.close(read_end)
    os.waitpid(pid, 0)
    assert seen == {"own": "written", "parent": "PermissionError", "own_truncate": "written"}
