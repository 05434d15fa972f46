"""`autograder grade --gpu simulate`: the GPU tests graded on a simulated GPU (hwkit.simgpu).

The simulated device itself (in this process), then the real sandboxed grader on the reference,
the mistake of timing CUDA without synchronising and the stubs: each graded once, side by side.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from autograder.cli import main
from autograder.grade import GraderError, grade
from autograder.report import feedback
from autograder.sandbox.client import RemoteHomework
from autograder.sandbox.zygote import Sandbox
from autograder.submission import locate
from autograder.tests import MODULES, REPO
from hwkit import probes, record, simgpu
from hwkit.grading import Limits, load_grading

from .conftest import needs_strong_sandbox
from .mistakes.performance import MISTAKES
from .test_merge_gpu import GPU_TESTS, _batch, _result

GRADING = load_grading(REPO / "grading.yml")
NO_SYNC = next(m for m in MISTAKES if m.id == "cuda_timed_without_synchronize")
TIMING_TESTS = {"tests/test_performance.py::test_gpu_measure_time_real_kernel",
                "autograder/hidden/test_performance_hidden.py::test_gpu_measure_time_hidden"}
SYNC_HINT = "call torch.cuda.synchronize()"
NOTE = {"en": "ran on a simulated GPU", "ru": "на имитации GPU"}
MS = simgpu.CARD.cycles_per_ms  # torch.cuda._sleep cycles per millisecond


# -- the simulated device, in this process ----------------------------------------------------------

@pytest.fixture
def gpu():
    with simgpu.installed() as device:
        yield device


def _events():
    return torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)


def test_tensors_live_on_cuda_0_and_hold_the_cpu_answers(gpu):
    assert torch.cuda.is_available() and torch.cuda.device_count() == 1
    assert torch.cuda.get_device_name(0) == simgpu.CARD.name
    host = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    x = host.to("cuda")
    for on_gpu, on_cpu in ((x, host), (x @ x, host @ host), (x + x, host + host), (x.sum(), host.sum()),
                           (x.transpose(-2, -1).clone(memory_format=torch.contiguous_format), host.mT.contiguous()),
                           (host.cuda() * 2, host * 2), (torch.ones(2, 3, device="cuda"), torch.ones(2, 3))):
        assert on_gpu.device == torch.device("cuda", 0) and on_gpu.is_cuda
        back = on_gpu.cpu()
        assert type(back) is torch.Tensor and back.device.type == "cpu"
        assert torch.equal(back, on_cpu)
    assert x.sum().item() == pytest.approx(host.sum().item())
    assert "device='cuda:0'" in repr(x)
    with pytest.raises(RuntimeError, match="same device"):
        x + host  # as on a real GPU: no silent copy
    with pytest.raises(RuntimeError, match="autograd"):  # refused, never a crash of the process
        torch.rand(3, device="cuda", requires_grad=True)


def test_an_event_pair_measures_the_kernel_of_the_roofline_model(gpu):
    n = 512
    x = torch.rand(n, n, device="cuda")
    start, end = _events()
    torch.cuda._sleep(int(100 * MS))  # the device is busy while the host queues the rest, as in a real benchmark
    start.record()
    y = x @ x
    end.record()
    torch.cuda.synchronize()
    assert type(y) is simgpu.SimulatedTensor
    assert start.elapsed_time(end) == pytest.approx(simgpu.kernel_ms(2 * n * n * 4, 2.0 * n ** 3), rel=1e-3)
    # Copies cross PCIe ...
    host = torch.rand(1024, 1024)
    torch.cuda._sleep(int(20 * MS))
    start.record()
    host.to("cuda", non_blocking=True)
    end.record()
    assert not gpu.idle()
    torch.cuda.synchronize()
    assert start.elapsed_time(end) == pytest.approx(simgpu.copy_ms(host.numel() * 4), rel=1e-3)
    # ... and from pageable memory the host waits for them, and for what was queued before.
    torch.cuda._sleep(int(5 * MS))
    host.to("cuda")
    assert gpu.idle()


def test_the_device_does_not_see_the_cpu_doing_its_maths(gpu):
    x = torch.rand(1024, 1024, device="cuda")
    torch.cuda.synchronize()
    start, end = _events()
    started = time.perf_counter()
    start.record()
    x @ x  # 2 GFLOP: milliseconds on the CPU, microseconds on the card
    end.record()
    host_ms = (time.perf_counter() - started) * 1000
    torch.cuda.synchronize()
    assert simgpu.kernel_ms(2 * x.numel() * 4, 2.0 * 1024 ** 3) <= start.elapsed_time(end) < host_ms / 2


def test_the_host_clock_does_not_wait_unless_a_value_is_read(gpu):
    started = time.perf_counter()
    torch.cuda._sleep(int(30 * MS))
    assert time.perf_counter() - started < 0.3 * 0.030  # the mistake a harness without synchronize makes
    assert not gpu.idle()
    x = torch.ones(4, device="cuda")
    started = time.perf_counter()
    value = x.sum().item()  # .item() waits for the queue, as CUDA does
    assert value == 4 and time.perf_counter() - started >= 0.020 and gpu.idle()
    assert probes.calibrate_cuda_sleep() == pytest.approx(MS, rel=0.05)


def test_everything_is_put_back_after_the_block():
    before = torch.cuda.is_available, torch.cuda.Event, torch.cuda.get_device_name
    with simgpu.installed():
        x = torch.ones(2, device="cuda")
    assert (torch.cuda.is_available, torch.cuda.Event, torch.cuda.get_device_name) == before
    assert simgpu.active() is None
    with pytest.raises(RuntimeError, match="simulation ended"):
        x + 1


# -- the grader: --gpu simulate ---------------------------------------------------------------------

def _cli(sub: Path, out: Path, lang: str = "en") -> subprocess.Popen:
    out.mkdir(parents=True)
    return subprocess.Popen([sys.executable, "-m", "autograder.cli", "grade", str(sub), "--gpu", "simulate",
                             "--lang", lang, "--record", str(out / "record.json"), "--json", str(out / "results.json"),
                             "--feedback", str(out / "feedback.md")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, dict]:
    """Each fixture graded once by the CLI, all three at once (stubs in Russian)."""
    root = tmp_path_factory.mktemp("simgpu")
    subs = {"reference": (REPO / "solutions", "en"), "no_sync": (NO_SYNC.write(root / "subs"), "en"),
            "stubs": (REPO / "assignment", "ru")}
    running = {name: _cli(sub, root / name, lang) for name, (sub, lang) in subs.items()}
    out = {}
    for name, proc in running.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-3000:]
        folder = root / name
        out[name] = {"stdout": stdout, "folder": folder, "record": record.load(folder / "record.json"),
                     "results": json.loads((folder / "results.json").read_text(encoding="utf-8")),
                     "feedback": (folder / "feedback.md").read_text(encoding="utf-8")}
        assert out[name]["record"] is not None
    return out


def _statuses(result: record.GradingResult) -> dict[str, str]:
    return {t.name: t.status for t in result.tests}


@needs_strong_sandbox
def test_the_reference_earns_every_gpu_point(graded):
    result = graded["reference"]["record"]
    assert set(_statuses(result)) == GPU_TESTS  # only the GPU tests ran
    assert set(_statuses(result).values()) == {"passed"}, [(t.name, t.output) for t in result.tests]
    assert result.score == pytest.approx(sum(GRADING.points_for(t)[1] for t in GPU_TESTS))
    assert result.gpu == record.SIMULATED_GPU == "simulated"


@needs_strong_sandbox
def test_timing_cuda_without_synchronising_loses_the_gpu_timing_points(graded):
    result = graded["no_sync"]["record"]
    failed = {t.name: t for t in result.tests if t.status != "passed"}
    assert set(failed) == TIMING_TESTS
    for test in failed.values():
        assert test.score == 0 and SYNC_HINT in test.output, test.output
    assert result.gpu == "simulated"


@needs_strong_sandbox
def test_the_stubs_earn_no_gpu_point(graded):
    result = graded["stubs"]["record"]
    assert result.score == 0 and set(_statuses(result)) == GPU_TESTS
    assert set(_statuses(result).values()) == {"failed"}
    assert result.gpu == "simulated"


@needs_strong_sandbox
@pytest.mark.parametrize("name, lang", [("reference", "en"), ("stubs", "ru")])
def test_every_report_says_the_points_come_from_a_simulated_gpu(graded, name, lang):
    run = graded[name]
    assert NOTE[lang] in run["feedback"].split("##")[0]  # before the points per task
    assert NOTE[lang] in run["results"]["output"].split("\n\n")[0]
    assert run["results"]["extra_data"]["gpu"] == "simulated"
    assert NOTE[lang] in " ".join(run["stdout"].split())
    assert NOTE[lang] not in feedback.render(run["record"].model_copy(update={"gpu": "require"}))


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@needs_strong_sandbox
@pytest.mark.parametrize("kind", ["record.json", "results.json"])
def test_merge_gpu_refuses_a_simulated_run_and_changes_nothing(graded, tmp_path, capsys, kind):
    pending = _result({t: "pending_gpu" for t in GPU_TESTS})
    out = _batch(tmp_path, {"alice": pending, "bob": pending})
    gpu_dir = tmp_path / "gpu"
    gpu_dir.mkdir()
    record.save(_result({}, gpu_only=True), gpu_dir / "alice.json")  # a real GPU run, merged first were it alone
    shutil.copy(graded["reference"]["folder"] / kind, gpu_dir / "bob.json")
    before = _files(out)
    assert main(["merge-gpu", str(out), str(gpu_dir)]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and "bob.json" in message and "simulated GPU" in message, message
    assert _files(out) == before


CLAIMS_A_GPU = """
import torch
torch.cuda.is_available = lambda: True
try:
    from hwkit import simgpu
    simgpu.install()
    SIMGPU = "installed"
except ImportError:
    SIMGPU = "absent"
"""


@needs_strong_sandbox
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the GPU tests run on the real GPU")
def test_a_submission_cannot_switch_the_simulated_gpu_on(submission):
    # It claims CUDA and looks for the simulation's module: on a grader that did not choose
    # `--gpu simulate` the module is not in the sandbox, and the claim is not believed.
    sub = submission(append={"performance": CLAIMS_A_GPU})
    hw = RemoteHomework(locate(sub, MODULES).files, GRADING.limits, gpu="auto", modules=MODULES)
    try:
        assert hw.performance.SIMGPU == "absent"
        assert not hw.sandbox.simulated_gpu and not hw.cuda_available()
    finally:
        hw.close()
    result = grade(sub, gpu="auto", gpu_only=True)
    assert result.gpu == "auto" and {t.status for t in result.tests} == {"pending_gpu"}


@needs_strong_sandbox
def test_a_sandbox_started_for_another_mode_is_refused():
    sandbox = Sandbox(GRADING.limits, modules=MODULES)
    try:
        with pytest.raises(GraderError, match="simulated GPU"):
            grade(REPO / "solutions", gpu="simulate", sandbox=sandbox)
    finally:
        sandbox.close()
    with pytest.raises(ValueError):
        Sandbox(GRADING.limits, modules=MODULES, gpu=True, simulated_gpu=True)


@needs_strong_sandbox
def test_in_simulation_the_simulated_timing_api_still_reaches_the_graders_device():
    hw = RemoteHomework(locate(REPO / "solutions", MODULES).files, Limits(call_timeout_s=8, import_timeout_s=30),
                        gpu="simulate", modules=MODULES)
    try:
        assert hw.cuda_available()
        tensors = hw.performance.make_tensors([(2, 3)], "cuda", 1)  # a CUDA tensor crosses the wire
        assert getattr(tensors[0], "_homework_remote_meta")["device"] == "cuda:0"
        assert torch.equal(tensors[0], hw.performance.make_tensors([(2, 3)], "cpu", 1)[0])
        kernel = probes.SimKernel(ms=10)
        with hw.simulated_cuda() as device:
            ms = hw.performance.measure_time(kernel, device="cuda", repeat=2)
            assert device.launches == 3 and device.idle()  # the grader's device ran them, and was waited for
        assert 8 <= ms <= 19  # (the public tests' window for 10 ms)
    finally:
        hw.close()
