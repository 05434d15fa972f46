"""Public tests for Task 3 — CPU vs CUDA performance (homework_performance.py).

Run them with ``pytest -m task3``. Timing is tested with *probes* of known duration
(``hwkit/probes.py``): ``Sleep(ms=8, first_ms=100)`` takes 100 ms on its first call and
8 ms afterwards, like an operation with a one-off start-up cost. A correct ``measure_time``
reports about 8 ms for it. The CUDA code path is tested on a *simulated* asynchronous GPU, so
it runs everywhere; tests marked ``gpu`` need a real NVIDIA GPU and are skipped without one.
"""

from __future__ import annotations

import math
import time

import pytest
import torch

from hwkit import checks, probes
from hwkit.i18n import tr, trn

pytestmark = pytest.mark.task3

OPERATION_NAMES = ["matmul", "add", "mul", "transpose", "sum"]
ROW_KEYS = ["operation", "shape", "device", "ms"]
TABLE_KEYS = ["operation", "shape", "cpu_ms", "cuda_ms", "speedup"]
F32 = {"rtol": 1e-5, "atol": 1e-5}


def sync_hint() -> str:
    return tr("CUDA calls return as soon as the work is queued, long before the GPU has finished it: record "
              "torch.cuda.Event(enable_timing=True) before and after each call, call torch.cuda.synchronize(), "
              "then read start.elapsed_time(end)")


# -- helpers ------------------------------------------------------------------------------------------

def check_ms(measured, expected: float, call: str, mistakes: dict | None = None) -> float:
    """`measured` must be a Python float close to `expected` milliseconds.

    The window [0.85*expected - 0.5, 1.6*expected + 3] leaves room for a busy machine (a timer
    only ever runs long: a preempted call takes longer, never shorter) while the usual mistakes
    land far outside it. `mistakes` maps an explanation to the number that mistake produces (a
    float) or to a (low, high) range; the failure message names the mistake that explains it.
    """
    __tracebackhide__ = True
    ms = checks.number(measured, tr("the result of {call}", call=call))
    low, high = 0.85 * expected - 0.5, 1.6 * expected + 3.0
    if low <= ms <= high:
        return ms
    candidates = {tr("that is the time in SECONDS — multiply by 1000 to return milliseconds"): expected / 1000}
    candidates.update(mistakes or {})
    hint = ""
    points = {k: v for k, v in candidates.items() if not isinstance(v, tuple)}
    if ms > 0 and points:
        explanation, value = min(points.items(), key=lambda item: abs(_log_ratio(ms, item[1])))
        if abs(_log_ratio(ms, value)) < min(0.3, abs(_log_ratio(ms, expected))):
            hint = f" — {explanation}"
    if not hint:
        for explanation, value in candidates.items():
            if isinstance(value, tuple) and value[0] <= ms <= value[1]:
                hint = f" — {explanation}"
                break
    message = tr("{call} returned {ms} ms instead of about {expected} ms", call=call, ms=f"{ms:.3f}",
                 expected=f"{expected:g}") + hint + " " + tr("(accepted: {low} to {high} ms)",
                                                             low=f"{max(low, 0.0):.2f}", high=f"{high:.2f}")
    if ms > high:
        checks.too_slow(message)  # the test runs once more: a busy machine only makes timings longer
    checks.fail(message)
    return ms


def _log_ratio(a: float, b: float) -> float:
    return math.log(max(a, 1e-9) / max(b, 1e-9))


def no_sync(expected: float) -> dict:
    """The mistake of timing a CUDA call on the host without waiting for the GPU: ~0 ms."""
    return {sync_hint(): (float("-inf"), 0.3 * expected)}


def check_calls(probe, expected: int, call: str, *, warmup: int, repeat: int) -> None:
    __tracebackhide__ = True
    if probe.calls != expected:
        checks.fail(trn("{call} called the function {n} time, but with warmup={warmup} and repeat={repeat} "
                        "it must call it warmup + repeat = {expected} times",
                        "{call} called the function {n} times, but with warmup={warmup} and repeat={repeat} "
                        "it must call it warmup + repeat = {expected} times", probe.calls, call=call,
                        warmup=warmup, repeat=repeat, expected=expected))


def timed(function, *args, **kwargs) -> tuple:
    """(result, seconds): the call timed by the test itself, on a clock student code cannot touch."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def busy_ms(probe, calls: int) -> float:
    """The least time `calls` calls of a Sleep, SimKernel or CudaSleep probe can take."""
    first = getattr(probe, "first_ms", None)
    if first is None:
        return calls * probe.ms
    slow = min(calls, probe.slow_calls)
    return slow * first + (calls - slow) * probe.ms


def check_spent(spent: float, least_ms: float, call: str) -> None:
    """The call took at least as long as the probe calls it made, on the test's own clock.

    (In the grader the probes run, and are counted, on the trusted side; in a student's own run
    this is a second line.) A correct measure_time always passes: sleeping never ends early.
    """
    __tracebackhide__ = True
    if spent * 1000 < 0.9 * least_ms - 1.0:
        checks.fail(tr("{call} returned after {spent} ms, but the calls of f it reports take at least {least} ms "
                       "— measure_time must really call f and time those calls", call=call,
                       spent=f"{spent * 1000:.1f}", least=f"{least_ms:.1f}"))


def contrast_ms(expected: float) -> float:
    """A duration whose accepted window (see check_ms) does not overlap `expected`'s."""
    low = 0.85 * expected - 0.5
    shorter = (low - 3.1) / 1.6  # its window ends 0.1 ms below `expected`'s
    if shorter >= 0.4:
        return math.floor(min(shorter, 5.0) * 10) / 10
    return math.ceil((1.6 * expected + 3.6) / 0.85 * 2) / 2


def check_not_made_up(hw, expected: float, call: str, **kwargs) -> None:
    """Time a second probe the same way (same device, warmup and repeat), of a duration whose
    window does not overlap `expected`'s: a number made up without timing — a constant, or a
    duration read from somewhere — cannot fit both windows."""
    __tracebackhide__ = True
    ms_per_call = contrast_ms(expected)
    cuda = str(kwargs.get("device", "cpu")).startswith("cuda")
    probe = probes.SimKernel(ms=ms_per_call) if cuda else probes.Sleep(ms=ms_per_call)
    again = tr("{call}, again for f taking {ms} ms", call=call, ms=ms_per_call)
    if cuda:
        ms, spent = measure_cuda(hw, probe, again, **kwargs)
    else:
        ms, spent = timed(hw.performance.measure_time, probe, **kwargs)
    warmup, repeat = kwargs.get("warmup", 1), kwargs.get("repeat", 10)  # (measure_time's defaults)
    check_calls(probe, warmup + repeat, again, warmup=warmup, repeat=repeat)
    check_ms(ms, ms_per_call, again)
    check_spent(spent, busy_ms(probe, warmup + repeat), again)


def tensor_list(result, count: int, call: str) -> list:
    __tracebackhide__ = True
    if type(result) is not list or len(result) != count:
        got = checks.describe(result) if type(result) is not list else tr("{n} item(s)", n=len(result))
        checks.fail(tr("{call} should return a list with one tensor per shape ({count}), but it returned {got}",
                       call=call, count=count, got=got))
    return result


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# -- 3.1 make_tensors ------------------------------------------------------------------------------
# Only properties are tested: which calls of which generator produce the numbers is the student's choice.

def device_type(t: torch.Tensor) -> str:
    """Where a returned tensor lives in the student's process (the grader's wire records it)."""
    meta = getattr(t, checks.REMOTE_META, None)
    return str(meta.get("device") if meta else t.device).split(":")[0]


def check_uniform(t: torch.Tensor, name: str) -> None:
    """Numbers in [0, 1) and, for a tensor big enough to tell, spread evenly over it."""
    __tracebackhide__ = True
    values = t.detach().cpu().double().flatten()
    if values.numel() == 0:
        return
    low, high = values.min().item(), values.max().item()
    if not (low >= 0.0 and high < 1.0):
        hint = tr(" — negative numbers look like a normal distribution; these numbers are uniform on [0, 1)") \
            if low < 0 else ""
        checks.fail(tr("{name} holds numbers from {low} to {high}, but they should all lie in [0, 1)", name=name,
                       low=f"{low:.4g}", high=f"{high:.4g}") + hint)
    if values.numel() >= 4096:  # (then each quarter's share is within 0.04 of 25% unless the numbers are skewed)
        shares = torch.histc(values, bins=4, min=0.0, max=1.0) / values.numel()
        if (shares - 0.25).abs().max().item() > 0.04:
            checks.fail(tr("the numbers of {name} are not spread evenly over [0, 1): the quarters [0, 0.25), "
                           "[0.25, 0.5), [0.5, 0.75) and [0.75, 1) hold {shares} of them, instead of about 25% each",
                           name=name, shares=", ".join(f"{100 * share:.1f}%" for share in shares.tolist())))


def restarted_generator_hint() -> str:
    return tr("every tensor should get new random numbers; this happens when the generator is seeded again for "
              "each tensor: seed it once and draw all the tensors from it, one after another")


def check_random_tensors(result, shapes, call: str, device: str = "cpu") -> list:
    """make_tensors' answer: one float32 tensor per shape, of that shape, on `device`, with numbers uniform
    on [0, 1), and no two tensors starting with the same numbers."""
    __tracebackhide__ = True
    tensors = tensor_list(result, len(shapes), call)
    for i, (t, shape) in enumerate(zip(tensors, shapes)):
        name = f"{call}[{i}]"
        checks.tensor(t, name, shape=tuple(shape), dtype=torch.float32)
        if device_type(t) != device:
            checks.fail(tr("{name} is on {actual}, but make_tensors was asked for the device {device}", name=name,
                           actual=device_type(t), device=repr(device)))
        check_uniform(t, name)
    flat = [t.detach().cpu().flatten() for t in tensors]
    for j in range(len(flat)):
        for i in range(j):
            n = min(flat[i].numel(), flat[j].numel(), 16)
            if n and torch.equal(flat[i][:n], flat[j][:n]):
                checks.fail(tr("{call}[{j}] starts with the same numbers as {call}[{i}] — {hint}", call=call, i=i,
                               j=j, hint=restarted_generator_hint()))
    return tensors


def global_state_message() -> str:
    return tr("make_tensors changed the GLOBAL random state (e.g. with torch.manual_seed) — leave it alone: draw the "
              "numbers from a torch.Generator of your own, seeded with `seed`")


def check_global_state_untouched(hw) -> None:
    """Draw from the global generator after each of two identical calls: had make_tensors re-seeded it, the two
    draws would be equal."""
    __tracebackhide__ = True
    draws = []
    for _ in range(2):
        hw.performance.make_tensors([(3, 4)], "cpu", 3)
        draws.append(hw.global_random("performance"))
    if torch.equal(draws[0], draws[1]):
        checks.fail(global_state_message())


SMALL_SHAPES = [(2, 3, 4), (5, 6), (1, 2, 2), (64, 64)]


@pytest.mark.value
def test_make_tensors_values(hw):
    check_random_tensors(hw.performance.make_tensors(SMALL_SHAPES, "cpu", 7), SMALL_SHAPES,
                         "make_tensors(shapes, 'cpu', 7)")
    if [tuple(s) for s in hw.performance.DEFAULT_SHAPES] != [(64, 1024, 1024), (128, 512, 512), (256, 256, 256)]:
        checks.fail(tr("DEFAULT_SHAPES must be [(64, 1024, 1024), (128, 512, 512), (256, 256, 256)]"))


def test_make_tensors_is_reproducible(hw):
    shapes = [(3, 4, 4), (2, 5)]
    first, again, other, default, zero = (
        tensor_list(hw.performance.make_tensors(shapes, **kwargs), len(shapes), f"make_tensors(shapes, {kwargs})")
        for kwargs in ({"seed": 3}, {"seed": 3}, {"seed": 4}, {}, {"seed": 0}))
    for i in range(len(shapes)):
        checks.close(again[i], first[i], tr("make_tensors(shapes, seed=3)[{i}] (second call)", i=i), rtol=0.0,
                     atol=0.0, hint=tr("the same seed must give the same numbers every time"))
        checks.close(default[i], zero[i], f"make_tensors(shapes)[{i}]", rtol=0.0, atol=0.0,
                     hint=tr("the default seed is 0"))
        if torch.equal(other[i], first[i]):
            checks.fail(tr("make_tensors(shapes, seed=4) returned the same numbers as seed=3 — seed the generator "
                           "with the `seed` argument"))
    check_global_state_untouched(hw)
    if hw.cuda_available():  # the same seed gives the same numbers on every device
        on_gpu = check_random_tensors(hw.performance.make_tensors(shapes, "cuda", 3), shapes,
                                      "make_tensors(shapes, 'cuda', 3)", device="cuda")
        for i in range(len(shapes)):
            checks.close(on_gpu[i].cpu(), first[i], f"make_tensors(shapes, 'cuda', 3)[{i}]", rtol=0.0, atol=0.0,
                         hint=tr("the same seed should give the same numbers on every device: the numbers of "
                                 "make_tensors(shapes, 'cpu', 3)"))


# -- 3.2 measure_time on the CPU ------------------------------------------------------------------

@pytest.mark.value
def test_measure_time_leaves_out_warmup(hw):
    p = probes.Sleep(ms=8, first_ms=100)  # the first call is slow, like a cold start
    ms, spent = timed(hw.performance.measure_time, p, repeat=4)
    check_calls(p, 5, "measure_time(f, repeat=4)", warmup=1, repeat=4)
    check_ms(ms, 8, tr("measure_time(f, repeat=4) for f taking 100 ms once, then 8 ms"), {
        tr("the slow first call was timed: make `warmup` untimed calls before the timed ones"): (100 + 3 * 8) / 4,
        tr("that is the TOTAL of the timed calls — return the mean (total / repeat)"): 32,
    })
    check_spent(spent, busy_ms(p, 5), "measure_time(f, repeat=4)")
    check_not_made_up(hw, 8, "measure_time(f, repeat=4)", repeat=4)


@pytest.mark.value
def test_measure_time_returns_mean_not_total(hw):
    p = probes.Sleep(ms=6)
    ms, spent = timed(hw.performance.measure_time, p, repeat=4, warmup=0)
    check_calls(p, 4, "measure_time(f, repeat=4, warmup=0)", warmup=0, repeat=4)
    check_ms(ms, 6, tr("measure_time(f, repeat=4, warmup=0) for f taking 6 ms"), {
        tr("that is the TOTAL of the 4 timed calls — return the mean (total / repeat)"): 24,
    })
    check_spent(spent, busy_ms(p, 4), "measure_time(f, repeat=4, warmup=0)")
    check_not_made_up(hw, 6, "measure_time(f, repeat=4, warmup=0)", repeat=4, warmup=0)


@pytest.mark.parametrize("repeat, warmup", [(1, 0), (3, 2), (6, 1)])
def test_measure_time_calls_warmup_plus_repeat_times(hw, repeat, warmup):
    p = probes.Sleep(ms=0.5)
    ms, spent = timed(hw.performance.measure_time, p, repeat=repeat, warmup=warmup)
    call = f"measure_time(f, repeat={repeat}, warmup={warmup})"
    check_calls(p, repeat + warmup, call, warmup=warmup, repeat=repeat)
    check_spent(spent, busy_ms(p, repeat + warmup), call)
    # (a single 0.5 ms call is too short to judge its timing on a busy machine: only its type here)
    if not checks.number(ms, tr("the result of {call}", call=call)) > 0:
        checks.fail(tr("{call} returned {ms} ms — a measured time must be positive", call=call, ms=ms))


def test_measure_time_defaults(hw):
    p = probes.Sleep(ms=0.5)
    _, spent = timed(hw.performance.measure_time, p)
    check_calls(p, 11, "measure_time(f)", warmup=1, repeat=10)
    check_spent(spent, busy_ms(p, 11), "measure_time(f)")


def test_measure_time_passes_arguments(hw):
    p = probes.KwargSleep()
    t = torch.zeros(3)
    ms, spent = timed(hw.performance.measure_time, p, t, "second", ms=5.0, repeat=3)
    check_calls(p, 4, "measure_time(f, t, 'second', ms=5.0, repeat=3)", warmup=1, repeat=3)
    # KwargSleep records [number of positional args, ms, other keyword names] for every call.
    for seen in p.seen:
        if seen != [2, 5.0, []]:
            checks.fail(tr("measure_time(f, t, 'second', ms=5.0, repeat=3) must call f(t, 'second', ms=5.0) — "
                           "forward *args and **kwargs, but not device/repeat/warmup; f saw {args} positional "
                           "argument(s), ms={ms} and other keywords {keywords}", args=seen[0], ms=seen[1],
                           keywords=seen[2]))
    check_ms(ms, 5.0, tr("measure_time(f, t, 'second', ms=5.0, repeat=3) for f taking `ms` milliseconds"), {
        tr("that is the TOTAL of the timed calls — return the mean (total / repeat)"): 15,
    })
    check_spent(spent, 5.0 * len(p.seen), "measure_time(f, t, 'second', ms=5.0, repeat=3)")


def test_measure_time_times_a_torch_function(hw):
    a = _rand(8, 256, 256)  # (a matmul of a fraction of a millisecond to a few milliseconds)
    repeat = 10
    call = f"measure_time(torch.matmul, a, a, repeat={repeat})"
    result, spent = timed(hw.performance.measure_time, probes.TORCH_FUNCTIONS["torch.matmul"], a, a, repeat=repeat)
    ms = checks.number(result, tr("the result of {call}", call=call))
    if not 0 < ms < 1000:
        checks.fail(tr("{call} returned {ms} ms for a small matmul — expected a small positive number of "
                       "milliseconds", call=call, ms=ms))
    # The `repeat` timed calls happen inside the call to measure_time, so together they cannot take longer
    # than it did: the mean is at most 1/repeat of it (the total over all runs is about `repeat` times more).
    if ms * repeat > spent * 1000 * 1.05 + 0.5:
        checks.fail(tr("{call} returned {ms} ms per call, but the whole call to measure_time took only {spent} ms, "
                       "less than {repeat} x {ms} ms — that looks like the total over all {repeat} timed calls: "
                       "divide it by the number of runs (repeat) to get the mean", call=call, ms=f"{ms:.3f}",
                       spent=f"{spent * 1000:.3f}", repeat=repeat))


@pytest.mark.parametrize("kwargs", [{"device": "tpu"}, {"device": "gpu"}, {"repeat": 0},
                                    {"repeat": -2}, {"warmup": -1}],
                         ids=["device=tpu", "device=gpu", "repeat=0", "repeat=-2", "warmup=-1"])
def test_measure_time_rejects_bad_arguments(hw, kwargs):
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    checks.raises(ValueError, f"measure_time(f, {shown})", hw.performance.measure_time, probes.Sleep(ms=0.1), **kwargs)


def test_measure_time_cuda_needs_a_gpu(hw):
    p = probes.Sleep(ms=0.1)
    if hw.cuda_available():
        # Nothing to refuse on this machine: check the real GPU path instead.
        gpu = probes.CudaSleep(ms=5)
        check_ms(hw.performance.measure_time(gpu, device="cuda", repeat=3), 5,
                 tr("measure_time(f, device='cuda', repeat=3) for a 5 ms GPU kernel"), no_sync(5))
        return
    checks.raises(RuntimeError, tr("measure_time(f, device='cuda') on a machine without CUDA"),
                 hw.performance.measure_time, p, device="cuda")
    if p.calls:
        checks.fail(tr("measure_time(f, device='cuda') called f before noticing that CUDA is missing — check "
                       "torch.cuda.is_available() first and raise RuntimeError"))


# -- 3.2 measure_time on the (simulated) GPU ---------------------------------------------------------

def measure_cuda(hw, kernel, call: str, **kwargs) -> tuple[float, float]:
    """(ms, seconds spent) of measure_time(kernel, device='cuda', ...) on the simulated GPU."""
    __tracebackhide__ = True
    kwargs.setdefault("device", "cuda")
    with hw.simulated_cuda() as gpu:
        try:
            ms, spent = timed(hw.performance.measure_time, kernel, **kwargs)
        except RuntimeError as exc:  # (NotImplementedError is one: a stub's shows as it is)
            if checks.not_written(exc):
                raise
            checks.fail(tr("{call} raised RuntimeError: {error}", call=call, error=exc) + "\n"
                        + tr("Hint: {hint}", hint=sync_hint()))
        # Seen on the device itself, so a busy machine cannot blur it into a plausible number:
        # a measure_time that waited for its last event always returns with the GPU idle.
        if not gpu.idle():
            checks.fail(tr("{call} returned while the GPU was still running the kernels it timed", call=call)
                        + " — " + sync_hint())
    return ms, spent


@pytest.mark.value
def test_measure_time_cuda_waits_for_the_gpu(hw):
    kernel = probes.SimKernel(ms=20)
    call = tr("measure_time(f, device='cuda', repeat=3) for a 20 ms GPU kernel")
    ms, spent = measure_cuda(hw, kernel, call, repeat=3)
    check_calls(kernel, 4, call, warmup=1, repeat=3)
    check_ms(ms, 20, call, no_sync(20))
    check_spent(spent, busy_ms(kernel, 4), call)
    check_not_made_up(hw, 20, "measure_time(f, device='cuda', repeat=3)", device="cuda", repeat=3)


@pytest.mark.value
def test_measure_time_cuda_leaves_out_warmup(hw):
    kernel = probes.SimKernel(ms=10, first_ms=100)
    call = tr("measure_time(f, device='cuda', repeat=3) for a GPU kernel taking 100 ms once, then 10 ms")
    ms, spent = measure_cuda(hw, kernel, call, repeat=3)
    check_calls(kernel, 4, call, warmup=1, repeat=3)
    check_ms(ms, 10, call, {
        **no_sync(10),
        tr("the slow first call was timed: make `warmup` untimed calls, then torch.cuda.synchronize(), before "
           "the timed ones"): (100 + 2 * 10) / 3,
        tr("that is the TOTAL of the timed calls — return the mean (total / repeat)"): 30,
    })
    check_spent(spent, busy_ms(kernel, 4), call)
    check_not_made_up(hw, 10, "measure_time(f, device='cuda', repeat=3)", device="cuda", repeat=3)


# -- 3.3 OPERATIONS, benchmark, speedup_table, format_table --------------------------------------

def operation_hint(name: str) -> str:
    return {"matmul": tr("the batched matrix product of t with itself: t @ t"), "add": "t + t", "mul": "t * t",
            "transpose": tr("swap the last two axes: t.transpose(-2, -1), then make it a copy"),
            "sum": tr("the sum of all elements as a 0-dim tensor: t.sum()")}[name]


@pytest.mark.value
@pytest.mark.parametrize("name", OPERATION_NAMES)
def test_operations(hw, expected, name):
    operations = checks.mapping(hw.performance.OPERATIONS, "OPERATIONS", OPERATION_NAMES)
    t = _rand(2, 3, 3, seed=5)
    before = checks.snapshot(t)
    result = operations[name](t)
    checks.unchanged((t,), before, ("t",))
    checks.close(result, expected(f"OPERATIONS[{name}](t of shape 2x3x3, seed 5)", result),
                 f'OPERATIONS["{name}"](t)', **F32, hint=operation_hint(name))


def test_operations_transpose_is_a_copy(hw, expected):
    t = _rand(2, 3, 5, seed=6)
    result = checks.mapping(hw.performance.OPERATIONS, "OPERATIONS", ["transpose"])["transpose"](t)
    checks.close(result, expected("OPERATIONS[transpose](t of shape 2x3x5, seed 6)", result),
                 tr('OPERATIONS["transpose"](t) for t of shape (2, 3, 5)'), rtol=0.0, atol=0.0,
                 hint=operation_hint("transpose"))
    checks.not_a_view(result, t, 'OPERATIONS["transpose"](t)')


def _check_rows(rows, shapes, devices, call: str) -> list:
    __tracebackhide__ = True
    if type(rows) is not list:
        checks.fail(tr("{call} should return a list of dicts, but it returned {what}", call=call,
                       what=checks.describe(rows)))
    expected = [(op, tuple(shape), device) for device in devices for shape in shapes for op in OPERATION_NAMES]
    if len(rows) != len(expected):
        checks.fail(tr("{call} returned {rows} rows, but {devices} device(s) x {shapes} shape(s) x {operations} "
                       "operations make {expected}", call=call, rows=len(rows), devices=len(devices),
                       shapes=len(shapes), operations=len(OPERATION_NAMES), expected=len(expected)))
    for i, (row, (op, shape, device)) in enumerate(zip(rows, expected)):
        row = checks.mapping(row, f"{call}[{i}]", ROW_KEYS)
        got = (row["operation"], tuple(row["shape"]) if isinstance(row["shape"], (tuple, list)) else row["shape"],
               row["device"])
        if got != (op, shape, device):
            checks.fail(tr("{call}[{i}] is {got} (operation, shape, device), but it should be {want} — order the "
                           "rows: for each device, for each shape, for each operation in the order of OPERATIONS",
                           call=call, i=i, got=got, want=(op, shape, device)))
        ms = checks.number(row["ms"], f'{call}[{i}]["ms"]')
        if not ms > 0:
            checks.fail(tr('{call}[{i}]["ms"] is {ms}: a measured time must be positive', call=call, i=i, ms=ms))


@pytest.mark.value
def test_benchmark_rows(hw):
    shapes = [(2, 4, 4), (3, 2, 2)]
    rows = hw.performance.benchmark(shapes, ["cpu"], 2)
    _check_rows(rows, shapes, ["cpu"], "benchmark(shapes, devices=['cpu'], repeat=2)")


def test_benchmark_default_devices(hw):
    shapes = [(1, 3, 3)]
    rows = hw.performance.benchmark(shapes, repeat=1)
    devices = ["cpu", "cuda"] if hw.cuda_available() else ["cpu"]
    _check_rows(rows, shapes, devices, "benchmark(shapes, repeat=1)  (devices=None)")


def _table_by_key(table, call: str) -> list:
    __tracebackhide__ = True
    if type(table) is not list:
        checks.fail(tr("{call} should return a list of dicts, but it returned {what}", call=call,
                       what=checks.describe(table)))
    for i, entry in enumerate(table):
        checks.mapping(entry, f"{call}[{i}]", TABLE_KEYS)
    return [(entry["operation"], tuple(entry["shape"])) for entry in table]


def _check_entry(entry: dict, expected: dict, call: str) -> None:
    __tracebackhide__ = True
    wrong = checks.Entries(f'{call}: {expected["operation"]} {expected["shape"]}')
    for key in ("cpu_ms", "cuda_ms", "speedup"):
        with wrong.entry(key):
            want, got = expected[key], entry[key]
            if want is None:
                if got is not None:
                    checks.fail(tr('{call}: "{key}" of {operation} {shape} should be None (there is no measurement '
                                   "for it), but it is {got}", call=call, key=key, operation=expected["operation"],
                                   shape=expected["shape"], got=repr(got)))
                continue
            got = checks.number(got, f'{call}: "{key}" of {expected["operation"]} {expected["shape"]}')
            if abs(got - want) > 1e-9 * max(1.0, abs(want)):
                hint = tr(" — speedup = cpu_ms / cuda_ms (how many times faster the GPU is)") \
                    if key == "speedup" else ""
                if key == "speedup" and abs(got * want - 1) < 1e-6:
                    hint = tr(" — that is cuda_ms / cpu_ms, upside down: speedup = cpu_ms / cuda_ms (how many times "
                              "faster the GPU is)")
                checks.fail(tr('{call}: "{key}" of {operation} {shape} should be {want}, but it is {got}', call=call,
                               key=key, operation=expected["operation"], shape=expected["shape"], want=repr(want),
                               got=repr(got)) + hint)
    wrong.report()


@pytest.mark.value
def test_speedup_table_cpu_only(hw):
    rows = [
        {"operation": "add", "shape": (2, 3, 3), "device": "cpu", "ms": 1.5},
        {"operation": "sum", "shape": (2, 3, 3), "device": "cpu", "ms": 0.25},
        {"operation": "add", "shape": (4, 2, 2), "device": "cpu", "ms": 2.0},
    ]
    call = tr("speedup_table(rows) for CPU-only rows")
    table = hw.performance.speedup_table(rows)
    keys = _table_by_key(table, call)
    expected = [("add", (2, 3, 3)), ("sum", (2, 3, 3)), ("add", (4, 2, 2))]
    if keys != expected:
        checks.fail(tr("{call} should have one entry per (operation, shape) in the order they first appear: "
                       "{expected}, but it has {keys}", call=call, expected=expected, keys=keys))
    for entry, row in zip(table, rows):
        _check_entry(entry, {"operation": row["operation"], "shape": row["shape"], "cpu_ms": row["ms"],
                             "cuda_ms": None, "speedup": None}, call)


@pytest.mark.value
def test_speedup_table_with_cuda_rows(hw):
    rows = [
        {"operation": "matmul", "shape": (2, 3, 3), "device": "cpu", "ms": 6.0},
        {"operation": "add", "shape": (2, 3, 3), "device": "cpu", "ms": 1.0},
        {"operation": "matmul", "shape": (2, 3, 3), "device": "cuda", "ms": 1.5},
        {"operation": "add", "shape": (2, 3, 3), "device": "cuda", "ms": 4.0},
    ]
    call = tr("speedup_table(rows) for CPU and CUDA rows")
    table = hw.performance.speedup_table(rows)
    keys = _table_by_key(table, call)
    expected = {("matmul", (2, 3, 3)): (6.0, 1.5, 4.0), ("add", (2, 3, 3)): (1.0, 4.0, 0.25)}
    if keys != list(expected):
        checks.fail(tr("{call} should have one entry per (operation, shape) in the order they first appear: "
                       "{expected}, but it has {keys}", call=call, expected=list(expected), keys=keys))
    for entry, ((op, shape), (cpu, cuda, speedup)) in zip(table, expected.items()):
        _check_entry(entry, {"operation": op, "shape": shape, "cpu_ms": cpu, "cuda_ms": cuda,
                             "speedup": speedup}, call)


@pytest.mark.value
def test_format_table(hw):
    table = [
        {"operation": "matmul", "shape": (2, 3, 3), "cpu_ms": 3.0, "cuda_ms": 1.5, "speedup": 2.0},
        {"operation": "transpose", "shape": (16, 128, 64), "cpu_ms": 0.25, "cuda_ms": None, "speedup": None},
    ]
    text = hw.performance.format_table(table)
    if type(text) is not str:
        checks.fail(tr("format_table(table) should return a str, but it returned {what}", what=checks.describe(text)))
    lines = text.splitlines()
    header = lines[0] if lines else ""
    for column in ["Operation", "Shape", "CPU (ms)", "CUDA (ms)", "Speed-up"]:
        if column not in header:
            checks.fail(tr("the first line of format_table(table) should be the header with the column {column}; "
                           "it is {header}", column=repr(column), header=repr(header)))
    expected_cells = [["matmul", "2x3x3", "3.000", "1.500", "2.00x"], ["transpose", "16x128x64", "0.250", "-"]]
    for cells in expected_cells:
        matching = [line for line in lines[1:] if line.split()[:1] == [cells[0]]]
        if not matching:
            checks.fail(tr("format_table(table) has no line for {operation}:", operation=repr(cells[0])) + f"\n{text}")
        for cell in cells[1:]:
            if cell not in matching[0].split():
                checks.fail(tr("the line for {operation} should contain {cell} (shapes like 2x3x3, times with 3 "
                               "decimals, speed-ups like 2.00x, '-' for a missing value), but it is {line}",
                               operation=repr(cells[0]), cell=repr(cell), line=repr(matching[0])))


# -- 3.4 transfer_overhead --------------------------------------------------------------------------

TRANSFER_KEYS = ["host_to_device_ms", "device_to_host_ms", "compute_ms", "item_sync_ms"]


def check_transfer_times(result, call: str) -> None:
    """Each of the four entries a positive time in milliseconds; one message names every wrong entry."""
    __tracebackhide__ = True
    result = checks.mapping(result, call, TRANSFER_KEYS)
    wrong = checks.Entries(call)
    for key in TRANSFER_KEYS:
        with wrong.entry(key):
            value = checks.number(result[key], f'{call}["{key}"]')
            if not 0 < value < 10_000:
                checks.fail(tr('{call}["{key}"] is {value} ms — expected a positive time in milliseconds, measured '
                               "with measure_time(..., device='cuda')", call=call, key=key, value=value))
    wrong.report()


def test_transfer_overhead_needs_a_gpu(hw):
    if hw.cuda_available():
        check_transfer_times(hw.performance.transfer_overhead((64, 64), 2), "transfer_overhead((64, 64), 2)")
        return
    checks.raises(RuntimeError, tr("transfer_overhead() on a machine without CUDA"),
                 hw.performance.transfer_overhead, (8, 8), 2)


# -- real GPU (skipped without one) ---------------------------------------------------------------

@pytest.mark.value
@pytest.mark.gpu
def test_gpu_measure_time_real_kernel(hw):
    kernel = probes.CudaSleep(ms=20)
    ms, spent = timed(hw.performance.measure_time, kernel, device="cuda", repeat=3)
    check_calls(kernel, 4, "measure_time(f, device='cuda', repeat=3)", warmup=1, repeat=3)
    check_ms(ms, 20, tr("measure_time(f, device='cuda', repeat=3) for a 20 ms GPU kernel"), no_sync(20))
    check_spent(spent, busy_ms(kernel, 4), "measure_time(f, device='cuda', repeat=3)")


@pytest.mark.value
@pytest.mark.gpu
def test_gpu_benchmark_and_speedups(hw):
    shapes = [(4, 32, 32)]
    rows = hw.performance.benchmark(shapes, ["cpu", "cuda"], 2)
    _check_rows(rows, shapes, ["cpu", "cuda"], "benchmark(shapes, devices=['cpu', 'cuda'], repeat=2)")
    table = hw.performance.speedup_table(rows)
    _table_by_key(table, "speedup_table(benchmark(...))")
    for entry in table:
        cpu = checks.number(entry["cpu_ms"], "cpu_ms")
        cuda = checks.number(entry["cuda_ms"], "cuda_ms")
        speedup = checks.number(entry["speedup"], "speedup")
        if abs(speedup - cpu / cuda) > 1e-6 * max(1.0, speedup):
            checks.fail(tr("speedup of {operation} is {speedup}, but cpu_ms / cuda_ms = {ratio}",
                           operation=entry["operation"], speedup=speedup, ratio=cpu / cuda))


@pytest.mark.value
@pytest.mark.gpu
def test_gpu_transfer_overhead(hw):
    check_transfer_times(hw.performance.transfer_overhead((256, 256), 3), "transfer_overhead((256, 256), 3)")
