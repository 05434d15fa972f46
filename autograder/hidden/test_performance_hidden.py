"""Hidden tests for Task 3 — CPU vs CUDA performance: the student's answers against the reference.

Inputs differ from the public tests: other seeds and shapes for ``make_tensors`` (whose numbers
are checked by their properties, like the public tests: which generator calls make them is the
student's choice), other
``warmup``/``repeat`` values and randomized probe durations for ``measure_time`` (a harness
that returns a constant cannot pass), more simulated-GPU scenarios, float64 and odd shapes for
``OPERATIONS``, synthetic CPU+CUDA rows for ``speedup_table``/``format_table`` compared with
the reference, and real-GPU checks (marked ``gpu``).
"""

from __future__ import annotations

import random

import pytest
import torch

from solutions import homework_performance as ref
from hwkit import checks, probes
from hwkit.i18n import tr, trn
from tests.test_performance import (busy_ms, check_calls, check_global_state_untouched, check_ms, check_not_made_up,
                                    check_random_tensors, check_spent, check_transfer_times, device_type,
                                    measure_cuda, no_sync, tensor_list, timed)

pytestmark = pytest.mark.task3

# Known mistakes in the case tables below, named when a test runs (in the student's language).
TOTAL, COLD, WARMUP0, NO_SYNC = "total", "cold", "warmup0", "no-sync"


def _named(mistakes: dict, expected: float) -> dict:
    sentences = {
        TOTAL: lambda: tr("that is the TOTAL of the timed calls — return the mean (total / repeat)"),
        COLD: lambda: tr("the slow first call(s) were timed: make `warmup` untimed calls before the timed ones"),
        WARMUP0: lambda: tr("with warmup=0 every call is timed, the slow first one included"),
    }
    named = {}
    for key, value in mistakes.items():
        if key == NO_SYNC:
            named.update(no_sync(expected))
        else:
            named[sentences[key]()] = value
    return named


def _rand(shape: tuple, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# -- 3.1 make_tensors ------------------------------------------------------------------------------

MAKE_CASES = {
    "odd-shapes-seed0": ([(3, 5, 7), (4,), (2, 2, 2, 2)], 0),
    "large-seed12345": ([(80, 64), (1, 1)], 12345),
    "same-shape-twice": ([(6, 6), (6, 6)], 1),   # two different tensors
    "no-shapes": ([], 5),
}


@pytest.mark.value
@pytest.mark.parametrize("case", list(MAKE_CASES))
def test_make_tensors_properties_hidden(hw, case):
    shapes, seed = MAKE_CASES[case]
    call = f"make_tensors({shapes}, 'cpu', {seed})"
    first = check_random_tensors(hw.performance.make_tensors(shapes, "cpu", seed), shapes, call)
    again = tensor_list(hw.performance.make_tensors(shapes, "cpu", seed), len(shapes), call)
    other = tensor_list(hw.performance.make_tensors(shapes, "cpu", seed + 1), len(shapes),
                        f"make_tensors({shapes}, 'cpu', {seed + 1})")
    for i in range(len(shapes)):
        checks.close(again[i], first[i], tr("{call}[{i}], called a second time", call=call, i=i), rtol=0.0,
                     atol=0.0, hint=tr("the same seed must give the same numbers every time"))
    if shapes and all(torch.equal(o, f) for o, f in zip(other, first)):
        checks.fail(tr("make_tensors(shapes, seed={other}) returned the same numbers as seed={seed} — the numbers "
                       "should depend on the `seed` argument", other=seed + 1, seed=seed))


def test_make_tensors_leaves_global_rng_alone(hw):
    check_global_state_untouched(hw)


# -- 3.2 measure_time on the CPU ------------------------------------------------------------------

CPU_CASES = {
    # name: (Sleep probe arguments, measure_time keyword arguments, expected ms, known mistakes)
    "warmup=3,slow_calls=3": (dict(ms=5, first_ms=40, slow_calls=3), dict(warmup=3, repeat=4), 5.0,
                              {COLD: (40 + 40 + 5 + 5) / 4, TOTAL: 20}),
    "repeat=1": (dict(ms=8, first_ms=60), dict(warmup=1, repeat=1), 8.0, {COLD: 60}),
    "warmup=0": (dict(ms=4, first_ms=12), dict(warmup=0, repeat=4), 6.0, {WARMUP0: 4.0}),
    "repeat=7,warmup=2": (dict(ms=3, first_ms=60), dict(warmup=2, repeat=7), 3.0,
                          {COLD: (60 + 6 * 3) / 7, TOTAL: 21}),
}


@pytest.mark.value
@pytest.mark.parametrize("case", list(CPU_CASES))
def test_measure_time_warmup_and_repeat_hidden(hw, case):
    probe_args, kwargs, expected, mistakes = CPU_CASES[case]
    p = probes.Sleep(**probe_args)
    ms, spent = timed(hw.performance.measure_time, p, **kwargs)
    call = f"measure_time(f, {', '.join(f'{k}={v}' for k, v in kwargs.items())})"
    check_calls(p, kwargs["warmup"] + kwargs["repeat"], call, **kwargs)
    check_ms(ms, expected, tr("{call} for f taking {first} ms on its first {slow} call(s), then {ms} ms", call=call,
                              first=probe_args["first_ms"], slow=probe_args.get("slow_calls", 1),
                              ms=probe_args["ms"]), _named(mistakes, expected))
    check_spent(spent, busy_ms(p, kwargs["warmup"] + kwargs["repeat"]), call)
    check_not_made_up(hw, expected, call, **kwargs)


# Durations drawn from disjoint ranges: no single constant fits every case's window. Short
# calls get more repeats, so that one hiccup of a busy machine cannot tip the mean.
@pytest.mark.value
@pytest.mark.parametrize("seed, low, high, repeats", [(101, 1.5, 2.0, (6, 8)), (202, 3.0, 4.0, (3, 5)),
                                                      (303, 8.5, 9.5, (2, 3)), (404, 5.0, 6.5, (2, 4))],
                         ids=["short", "medium", "long", "medium-long"])
def test_measure_time_randomized_durations(hw, seed, low, high, repeats):
    rng = random.Random(seed)
    ms_per_call = round(rng.uniform(low, high), 2)
    first_ms = round(40.0 + 6 * ms_per_call, 1)  # slow enough that timing it shows
    repeat = rng.randint(*repeats)
    p = probes.Sleep(ms=ms_per_call, first_ms=first_ms)
    ms, spent = timed(hw.performance.measure_time, p, repeat=repeat)
    call = tr("measure_time(f, repeat={repeat}) for f taking {first} ms once, then {ms} ms", repeat=repeat,
              first=first_ms, ms=ms_per_call)
    check_calls(p, repeat + 1, call, warmup=1, repeat=repeat)
    check_ms(ms, ms_per_call, call, _named({COLD: (first_ms + (repeat - 1) * ms_per_call) / repeat,
                                            TOTAL: repeat * ms_per_call}, ms_per_call))
    check_spent(spent, busy_ms(p, repeat + 1), call)
    check_not_made_up(hw, ms_per_call, f"measure_time(f, repeat={repeat})", repeat=repeat)


def test_measure_time_forwards_every_argument(hw):
    p = probes.KwargSleep()
    ms, spent = timed(hw.performance.measure_time, p, 1, "two", [3], ms=2.5, alpha=1, beta="x", repeat=2, warmup=2)
    if p.calls != 4:
        checks.fail(trn("measure_time(f, ..., repeat=2, warmup=2) called f {n} time instead of 4",
                        "measure_time(f, ..., repeat=2, warmup=2) called f {n} times instead of 4", p.calls))
    for seen in p.seen:
        if seen != [3, 2.5, ["alpha", "beta"]]:
            checks.fail(tr("measure_time(f, 1, 'two', [3], ms=2.5, alpha=1, beta='x', repeat=2, warmup=2) must call "
                           "f(1, 'two', [3], ms=2.5, alpha=1, beta='x') — every positional and keyword argument "
                           "except device/repeat/warmup; f saw {args} positional argument(s), ms={ms} and other "
                           "keywords {keywords}", args=seen[0], ms=seen[1], keywords=seen[2]))
    check_ms(ms, 2.5, "measure_time(f, ..., ms=2.5, repeat=2, warmup=2)")
    check_spent(spent, 2.5 * 4, "measure_time(f, ..., ms=2.5, repeat=2, warmup=2)")


@pytest.mark.parametrize("kwargs", [{"device": ""}, {"device": "npu"}, {"repeat": -10}, {"warmup": -5},
                                    {"repeat": 0, "warmup": 0}],
                         ids=["device=''", "device=npu", "repeat=-10", "warmup=-5", "repeat=0,warmup=0"])
def test_measure_time_rejects_bad_arguments_hidden(hw, kwargs):
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    checks.raises(ValueError, f"measure_time(f, {shown})", hw.performance.measure_time, probes.Sleep(ms=0.1),
                  **kwargs)


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_measure_time_without_cuda_never_calls_f(hw, device):
    p = probes.KwargSleep()
    if hw.cuda_available():
        # This machine has a GPU, so there is nothing to refuse: time a real kernel instead.
        kernel = probes.CudaSleep(ms=4)
        check_ms(hw.performance.measure_time(kernel, device=device, repeat=2), 4,
                 tr("measure_time(f, device={device}, repeat=2) for a 4 ms GPU kernel", device=repr(device)),
                 no_sync(4))
        return
    checks.raises(RuntimeError, tr("measure_time(f, device={device}, warmup=0, repeat=1) without CUDA",
                                   device=repr(device)),
                 hw.performance.measure_time, p, device=device, warmup=0, repeat=1, ms=1.0)
    if p.calls:
        checks.fail(trn("measure_time(f, device={device}) called f {n} time before raising — check "
                        "torch.cuda.is_available() before the first call (warm-up included)",
                        "measure_time(f, device={device}) called f {n} times before raising — check "
                        "torch.cuda.is_available() before the first call (warm-up included)", p.calls,
                        device=repr(device)))


# -- 3.2 measure_time on the simulated GPU ---------------------------------------------------------

SIM_CASES = {
    # name: (SimKernel arguments, measure_time keyword arguments, expected ms, known mistakes)
    "warmup=2,slow_calls=2": (dict(ms=10, first_ms=60, slow_calls=2), dict(warmup=2, repeat=2), 10.0,
                              {COLD: (60 + 10) / 2, TOTAL: 20, NO_SYNC: None}),
    "repeat=1,warmup=0": (dict(ms=12), dict(warmup=0, repeat=1), 12.0, {NO_SYNC: None}),
    "warmup=0,slow-first": (dict(ms=10, first_ms=40), dict(warmup=0, repeat=2), 25.0,
                            {WARMUP0: 10.0, NO_SYNC: None}),
    "device=cuda:0": (dict(ms=8), dict(warmup=1, repeat=4, device="cuda:0"), 8.0, {NO_SYNC: None, TOTAL: 32}),
}


@pytest.mark.value
@pytest.mark.parametrize("case", list(SIM_CASES))
def test_measure_time_simulated_gpu_hidden(hw, case):
    kernel_args, kwargs, expected, mistakes = SIM_CASES[case]
    kernel = probes.SimKernel(**kernel_args)
    shown = {"device": "cuda", **kwargs}
    call = f"measure_time(f, {', '.join(f'{k}={v!r}' for k, v in shown.items())})"
    ms, spent = measure_cuda(hw, kernel, call, **kwargs)
    check_calls(kernel, kwargs["warmup"] + kwargs["repeat"], call, warmup=kwargs["warmup"], repeat=kwargs["repeat"])
    check_ms(ms, expected, tr("{call} for a GPU kernel of {ms} ms", call=call, ms=kernel_args["ms"])
             + (tr(" ({ms} ms at first)", ms=kernel_args["first_ms"]) if "first_ms" in kernel_args else ""),
             _named(mistakes, expected))
    check_spent(spent, busy_ms(kernel, kwargs["warmup"] + kwargs["repeat"]), call)
    check_not_made_up(hw, expected, call, **shown)


@pytest.mark.value
@pytest.mark.parametrize("seed, low, high", [(7, 4.5, 5.5), (8, 8.0, 10.0), (9, 15.0, 16.0)],
                         ids=["short", "medium", "long"])
def test_measure_time_simulated_gpu_randomized(hw, seed, low, high):
    rng = random.Random(seed)
    kernel_ms = round(rng.uniform(low, high), 2)
    repeat = rng.randint(2, 3)
    kernel = probes.SimKernel(ms=kernel_ms, first_ms=3 * kernel_ms + 20)
    call = tr("measure_time(f, device='cuda', repeat={repeat}) for a GPU kernel of {ms} ms", repeat=repeat,
              ms=kernel_ms)
    ms, spent = measure_cuda(hw, kernel, call, repeat=repeat)
    check_calls(kernel, repeat + 1, call, warmup=1, repeat=repeat)
    check_ms(ms, kernel_ms, call, _named({NO_SYNC: None, TOTAL: repeat * kernel_ms,
                                          COLD: (3 * kernel_ms + 20 + (repeat - 1) * kernel_ms) / repeat}, kernel_ms))
    check_spent(spent, busy_ms(kernel, repeat + 1), call)
    check_not_made_up(hw, kernel_ms, f"measure_time(f, device='cuda', repeat={repeat})", device="cuda", repeat=repeat)


# -- 3.3 OPERATIONS ------------------------------------------------------------------------------------

OPERATION_INPUTS = {
    "3x5x5-float64": lambda: _rand((3, 5, 5), 1, torch.float64),
    "1x4x4": lambda: _rand((1, 4, 4), 2),
    "2-D-6x6": lambda: _rand((6, 6), 3),
    "transposed-input": lambda: _rand((2, 4, 4), 4, torch.float64).transpose(-2, -1),
}
# matmul needs square matrices; the others also get a non-square input.
NON_SQUARE = {"3x5x7-float64": lambda: _rand((3, 5, 7), 5, torch.float64)}


@pytest.mark.value
@pytest.mark.parametrize("name", ["matmul", "add", "mul", "transpose", "sum"])
@pytest.mark.parametrize("case", list(OPERATION_INPUTS) + list(NON_SQUARE))
def test_operations_match_reference(hw, case, name):
    if case in NON_SQUARE and name == "matmul":
        case = "3x5x5-float64"
    t = {**OPERATION_INPUTS, **NON_SQUARE}[case]()
    before = checks.snapshot(t)
    operations = checks.mapping(hw.performance.OPERATIONS, "OPERATIONS", [name])
    result = operations[name](t)
    checks.unchanged((t,), before, ("t",))
    expected = ref.OPERATIONS[name](t.clone())
    call = tr('OPERATIONS["{name}"](t) for t of shape {shape} and dtype {dtype}', name=name, shape=tuple(t.shape),
              dtype=t.dtype)
    tol = {"rtol": 1e-12, "atol": 1e-12} if t.dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5}
    checks.close(result, expected, call, **tol)
    if name == "transpose" and t.is_contiguous():
        # (for an input that is itself a transposed view, the transpose back may be the original memory)
        checks.not_a_view(result, t, call)


# -- 3.3 benchmark ----------------------------------------------------------------------------------

@pytest.mark.value
def test_benchmark_rows_match_reference_order(hw):
    shapes = [(1, 5, 5), (2, 3, 3), (3, 1, 1)]
    rows = hw.performance.benchmark(shapes, ["cpu"], 1)
    call = "benchmark([(1, 5, 5), (2, 3, 3), (3, 1, 1)], devices=['cpu'], repeat=1)"
    expected = [(op, shape, "cpu") for shape in shapes for op in ref.OPERATIONS]
    if type(rows) is not list or len(rows) != len(expected):
        checks.fail(tr("{call} should return {n} rows (3 shapes x 5 operations), but it returned {got}", call=call,
                       n=len(expected), got=checks.describe(rows) if type(rows) is not list else len(rows)))
    for i, (row, (op, shape, device)) in enumerate(zip(rows, expected)):
        row = checks.mapping(row, f"{call}[{i}]", ["operation", "shape", "device", "ms"])
        if type(row["shape"]) is not tuple or row["shape"] != shape:
            checks.fail(tr('{call}[{i}]["shape"] should be the tuple {shape}, but it is {got}', call=call, i=i,
                           shape=shape, got=repr(row["shape"])))
        if (row["operation"], row["device"]) != (op, device):
            checks.fail(tr("{call}[{i}] should be {op} on {device}, but it is {got_op} on {got_device} — order: for "
                           "each device, for each shape, for each operation", call=call, i=i, op=op, device=device,
                           got_op=repr(row["operation"]), got_device=repr(row["device"])))
        checks.number(row["ms"], f'{call}[{i}]["ms"]')


def test_benchmark_rejects_unknown_device(hw):
    checks.raises(ValueError, tr("benchmark(shapes, devices=['mps'])  (only 'cpu' and 'cuda' are supported)"),
                 hw.performance.benchmark, [(1, 2, 2)], ["mps"], 1)


def test_benchmark_cuda_without_gpu(hw):
    if hw.cuda_available():
        rows = hw.performance.benchmark([(1, 4, 4)], ["cuda"], 1)
        if type(rows) is not list or {r.get("device") for r in rows if type(r) is dict} != {"cuda"}:
            checks.fail(tr("benchmark(shapes, devices=['cuda']) should return rows with device 'cuda' only"))
        return
    checks.raises(RuntimeError, tr("benchmark(shapes, devices=['cuda']) on a machine without CUDA"),
                 hw.performance.benchmark, [(1, 2, 2)], ["cuda"], 1)


# -- 3.3 speedup_table and format_table ------------------------------------------------------------

def _row(op: str, shape: tuple, device: str, ms: float) -> dict:
    return {"operation": op, "shape": shape, "device": device, "ms": ms}


SPEEDUP_CASES = {
    "cuda-rows-first": [
        _row("matmul", (8, 64, 64), "cuda", 0.125), _row("add", (8, 64, 64), "cuda", 0.5),
        _row("matmul", (8, 64, 64), "cpu", 12.5), _row("add", (8, 64, 64), "cpu", 0.25),
    ],
    "interleaved-shapes": [
        _row("sum", (2, 3, 3), "cpu", 0.75), _row("sum", (4, 5, 5), "cpu", 3.0),
        _row("sum", (4, 5, 5), "cuda", 1.5), _row("sum", (2, 3, 3), "cuda", 0.0625),
        _row("mul", (2, 3, 3), "cpu", 2.0), _row("mul", (2, 3, 3), "cuda", 8.0),
    ],
    "some-pairs-one-device": [
        _row("transpose", (3, 7, 2), "cpu", 1.25), _row("add", (3, 7, 2), "cuda", 0.5),
        _row("add", (3, 7, 2), "cpu", 4.5),
    ],
    "benchmark-like": [
        _row(op, shape, device, round(0.1 + 0.37 * i, 4))
        for i, (device, shape, op) in enumerate(
            (d, s, o) for d in ("cpu", "cuda") for s in ((16, 128, 128), (32, 64, 64)) for o in ref.OPERATIONS)
    ],
}


@pytest.mark.value
@pytest.mark.parametrize("case", list(SPEEDUP_CASES))
def test_speedup_table_matches_reference(hw, case):
    rows = SPEEDUP_CASES[case]
    table = hw.performance.speedup_table(rows)
    expected = ref.speedup_table(rows)
    call = f"speedup_table(rows) ({case})"
    if type(table) is not list or len(table) != len(expected):
        checks.fail(tr("{call} should return {n} entries, one per (operation, shape), but it returned {got}",
                       call=call, n=len(expected), got=checks.describe(table) if type(table) is not list
                       else len(table)))
    for i, (entry, want) in enumerate(zip(table, expected)):
        entry = checks.mapping(entry, f"{call}[{i}]", list(want))
        if (entry["operation"], tuple(entry["shape"])) != (want["operation"], want["shape"]):
            checks.fail(tr("{call}[{i}] is for {op} {shape}, but it should be for {want_op} {want_shape} — keep the "
                           "order in which pairs first appear", call=call, i=i, op=entry["operation"],
                           shape=tuple(entry["shape"]), want_op=want["operation"], want_shape=want["shape"]))
        wrong = checks.Entries(f"{call}[{i}]")
        for key in ("cpu_ms", "cuda_ms", "speedup"):
            with wrong.entry(key):
                if want[key] is None:
                    if entry[key] is not None:
                        checks.fail(tr('{call}[{i}]["{key}"] should be None (no measurement), but it is {got}',
                                       call=call, i=i, key=key, got=repr(entry[key])))
                    continue
                got = checks.number(entry[key], f'{call}[{i}]["{key}"]')
                if abs(got - want[key]) > 1e-9 * max(1.0, abs(want[key])):
                    upside_down = key == "speedup" and abs(got * want[key] - 1) < 1e-6
                    checks.fail(tr('{call}[{i}]["{key}"] for {op} {shape} should be {want}, but it is {got} '
                                   "(speedup = cpu_ms / cuda_ms)", call=call, i=i, key=key, op=want["operation"],
                                   shape=want["shape"], want=repr(want[key]), got=repr(got))
                                + (tr(" — that is cuda_ms / cpu_ms, upside down: speedup = cpu_ms / cuda_ms (how "
                                      "many times faster the GPU is)") if upside_down else ""))
        wrong.report()


@pytest.mark.parametrize("rows", [
    [_row("add", (2, 2), "cpu", 1.0), _row("add", (2, 2), "cpu", 2.0)],
    [_row("add", (2, 2), "tpu", 1.0)],
], ids=["duplicate-row", "unknown-device"])
def test_speedup_table_rejects_bad_rows(hw, rows):
    checks.raises(ValueError, tr("speedup_table(rows) for the rows {rows}", rows=rows), hw.performance.speedup_table,
                  rows)


FORMAT_CASES = {
    "cpu-only": ref.speedup_table([_row("matmul", (64, 1024, 1024), "cpu", 1234.5678),
                                   _row("sum", (64, 1024, 1024), "cpu", 0.0421)]),
    "cpu-and-cuda": ref.speedup_table(SPEEDUP_CASES["interleaved-shapes"]),
    "mixed": ref.speedup_table(SPEEDUP_CASES["some-pairs-one-device"]),
}


def _fmt_shape(shape: tuple) -> str:
    return "x".join(map(str, shape))


def _format_table(hw, case: str) -> tuple[list, str]:
    table = FORMAT_CASES[case]
    text = hw.performance.format_table(table)
    if type(text) is not str:
        checks.fail(tr("format_table(table) should return a str, but it returned {what}", what=checks.describe(text)))
    return table, text


@pytest.mark.value
@pytest.mark.parametrize("case", list(FORMAT_CASES))
def test_format_table_contents_hidden(hw, case):
    table, text = _format_table(hw, case)
    lines = text.splitlines()
    if len(lines) != len(table) + 2:
        checks.fail(tr("format_table(table) should have {n} lines (header, dashes, one per entry), but it has "
                       "{got}:", n=len(table) + 2, got=len(lines)) + f"\n{text}")
    for entry, line in zip(table, lines[2:]):
        cells = line.split()
        wanted = [entry["operation"], _fmt_shape(entry["shape"])]
        for key, template in (("cpu_ms", "{:.3f}"), ("cuda_ms", "{:.3f}"), ("speedup", "{:.2f}x")):
            wanted.append("-" if entry[key] is None else template.format(entry[key]))
        if cells != wanted:
            checks.fail(tr("the line for {op} {shape} should hold the cells {wanted} (shape like 64x1024x1024, 3 "
                           "decimals for times, 2 decimals and 'x' for the speed-up, '-' for None), but it is {line}",
                           op=entry["operation"], shape=entry["shape"], wanted=wanted, line=repr(line)))


@pytest.mark.value
@pytest.mark.parametrize("case", list(FORMAT_CASES))
def test_format_table_layout_matches_reference(hw, case):
    table, text = _format_table(hw, case)
    expected = ref.format_table(table)
    actual_lines = [line.rstrip() for line in text.rstrip("\n").splitlines()]
    if actual_lines != expected.splitlines():
        checks.fail(tr("format_table(table) is not laid out as described: pad every cell to the widest cell of its "
                       "column (text left-aligned, numbers right-aligned), two spaces between columns, a line of "
                       "dashes under the header.") + "\n" + tr("Expected:") + f"\n{expected}\n" + tr("Got:")
                    + f"\n{text}")


# -- real GPU (pending without one) ------------------------------------------------------------------

@pytest.mark.value
@pytest.mark.gpu
@pytest.mark.parametrize("warmup, repeat, kernel_ms", [(2, 2, 15.0), (1, 5, 7.0)])
def test_gpu_measure_time_hidden(hw, warmup, repeat, kernel_ms):
    kernel = probes.CudaSleep(ms=kernel_ms)
    call = tr("measure_time(f, device='cuda', warmup={warmup}, repeat={repeat}) for a {ms} ms GPU kernel",
              warmup=warmup, repeat=repeat, ms=kernel_ms)
    ms, spent = timed(hw.performance.measure_time, kernel, device="cuda", warmup=warmup, repeat=repeat)
    check_calls(kernel, warmup + repeat, call, warmup=warmup, repeat=repeat)
    check_ms(ms, kernel_ms, call, _named({NO_SYNC: None, TOTAL: repeat * kernel_ms}, kernel_ms))
    check_spent(spent, busy_ms(kernel, warmup + repeat), call)


@pytest.mark.value
@pytest.mark.gpu
def test_gpu_benchmark_device_order_hidden(hw):
    shapes = [(2, 8, 8), (3, 16, 16)]
    rows = hw.performance.benchmark(shapes, ["cuda", "cpu"], 1)
    expected = [(op, shape, device) for device in ("cuda", "cpu") for shape in shapes for op in ref.OPERATIONS]
    if type(rows) is not list or len(rows) != len(expected):
        checks.fail(tr("benchmark(shapes, devices=['cuda', 'cpu'], repeat=1) should return {n} rows",
                       n=len(expected)))
    for i, (row, want) in enumerate(zip(rows, expected)):
        row = checks.mapping(row, f"benchmark(...)[{i}]", ["operation", "shape", "device", "ms"])
        if (row["operation"], tuple(row["shape"]), row["device"]) != want:
            checks.fail(tr("benchmark(...)[{i}] should be {want} (devices in the order given), but it is {got}", i=i,
                           want=want, got=(row["operation"], tuple(row["shape"]), row["device"])))
        if not checks.number(row["ms"], f'benchmark(...)[{i}]["ms"]') > 0:
            checks.fail(tr('benchmark(...)[{i}]["ms"] must be a positive time', i=i))


@pytest.mark.value
@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(128, 128), (2, 64, 64)], ids=["128x128", "2x64x64"])
def test_gpu_transfer_overhead_hidden(hw, shape):
    check_transfer_times(hw.performance.transfer_overhead(shape, 2), f"transfer_overhead({shape}, 2)")


@pytest.mark.value
@pytest.mark.gpu
def test_gpu_make_tensors_on_cuda(hw):
    # The same seed gives the same numbers on every device: compared with the student's own CPU tensors.
    shapes = [(2, 3), (4, 4, 4), (64, 80)]
    on_cpu = check_random_tensors(hw.performance.make_tensors(shapes, "cpu", 9), shapes, "make_tensors(shapes, 'cpu', 9)")
    result = tensor_list(hw.performance.make_tensors(shapes, "cuda", 9), len(shapes), "make_tensors(shapes, 'cuda', 9)")
    for i, (actual, want) in enumerate(zip(result, on_cpu)):
        checks.tensor(actual, f"make_tensors(shapes, 'cuda', 9)[{i}]")
        if device_type(actual) != "cuda":
            checks.fail(tr("make_tensors(shapes, 'cuda', 9)[{i}] should be on the GPU — move it with .to(device)",
                           i=i))
        checks.close(actual.cpu(), want, f"make_tensors(shapes, 'cuda', 9)[{i}]", rtol=0.0, atol=0.0,
                     hint=tr("draw the numbers on the CPU with the seeded generator, then .to(device)"))
