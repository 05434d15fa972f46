"""Mistakes in homework_performance.py (see catalogue.py for the fields)."""

from __future__ import annotations

from .catalogue import Mistake

PUBLIC = "tests/test_performance.py::"
HIDDEN = "autograder/hidden/test_performance_hidden.py::"

MISTAKES: list[Mistake] = [
    Mistake(
        id="timing_total_instead_of_mean", module="performance",
        title="The total time instead of the mean", title_ru="Общее время вместо среднего",
        story="`measure_time` returns the sum of the timed calls, not the sum divided by `repeat`.",
        replace=(("return total_seconds * 1000.0 / repeat", "return total_seconds * 1000.0"),),
        catches=(PUBLIC + "test_measure_time_returns_mean_not_total", PUBLIC + "test_measure_time_leaves_out_warmup",
                 PUBLIC + "test_measure_time_passes_arguments", PUBLIC + "test_measure_time_times_a_torch_function",
                 HIDDEN + "test_measure_time_warmup_and_repeat_hidden", HIDDEN + "test_measure_time_randomized_durations"),
        message="that is the TOTAL of the 4 timed calls — return the mean (total / repeat)",
        message_ru="это СУММА времени 4 замеренных вызовов — верните среднее (сумма / repeat)"),
    Mistake(
        id="timing_whole_loop_not_divided", module="performance",
        title="One clock around the whole timed loop, not divided by repeat",
        title_ru="Один замер на весь цикл без деления на repeat",
        story="`measure_time` starts the clock before the loop of timed calls and returns the time of the whole "
              "loop: the total of all `repeat` calls, not the time of one.",
        replace=(("        total_seconds = 0.0\n        for _ in range(repeat):\n            started = time.perf_counter()\n"
                  "            func(*args, **kwargs)\n            total_seconds += time.perf_counter() - started\n"
                  "        return total_seconds * 1000.0 / repeat",
                  "        started = time.perf_counter()\n        for _ in range(repeat):\n"
                  "            func(*args, **kwargs)\n        return (time.perf_counter() - started) * 1000.0"),),
        # (the torch function test names the mistake first: it is the one the student sees first)
        catches=(PUBLIC + "test_measure_time_times_a_torch_function", PUBLIC + "test_measure_time_returns_mean_not_total",
                 PUBLIC + "test_measure_time_leaves_out_warmup", PUBLIC + "test_measure_time_passes_arguments",
                 HIDDEN + "test_measure_time_warmup_and_repeat_hidden", HIDDEN + "test_measure_time_randomized_durations"),
        message="that looks like the total over all 10 timed calls: divide it by the number of runs (repeat) to get "
                "the mean",
        message_ru="Похоже, это суммарное время всех 10 замеренных вызовов: разделите его на число запусков (repeat), "
                   "чтобы получить среднее"),
    Mistake(
        id="warmup_calls_timed", module="performance",
        title="The warm-up calls are timed too", title_ru="Прогревочные вызовы тоже замеряются",
        story="One loop of `warmup + repeat` timed calls: the slow first call (set-up cost) is in the mean "
              "(and the CUDA path lost its warm-up calls).",
        replace=(("    for _ in range(warmup):\n        func(*args, **kwargs)\n\n    if device_type == \"cpu\":",
                  "    if device_type == \"cpu\":"),
                 ("        for _ in range(repeat):\n            started = time.perf_counter()",
                  "        for _ in range(warmup + repeat):\n            started = time.perf_counter()"),
                 ("return total_seconds * 1000.0 / repeat", "return total_seconds * 1000.0 / (warmup + repeat)")),
        catches=(PUBLIC + "test_measure_time_leaves_out_warmup", PUBLIC + "test_measure_time_cuda_leaves_out_warmup",
                 PUBLIC + "test_measure_time_cuda_waits_for_the_gpu",
                 HIDDEN + "test_measure_time_warmup_and_repeat_hidden", HIDDEN + "test_measure_time_randomized_durations",
                 HIDDEN + "test_measure_time_simulated_gpu_hidden", HIDDEN + "test_measure_time_simulated_gpu_randomized"),
        message="the slow first call was timed: make `warmup` untimed calls before the timed ones",
        message_ru="замерен медленный первый вызов: сделайте `warmup` незамеряемых вызовов перед замеряемыми"),
    Mistake(
        id="cuda_timed_without_synchronize", module="performance",
        title="A CUDA call timed on the host clock without synchronizing",
        title_ru="Вызов CUDA замерен часами процессора без синхронизации",
        story="`time.perf_counter()` around the call for `device='cuda'` too: it measures how long queuing "
              "the kernel took, not the kernel.",
        replace=(('    if device_type == "cpu":\n        total_seconds = 0.0',
                  '    if True:  # the same clock for every device\n        total_seconds = 0.0'),),
        catches=(PUBLIC + "test_measure_time_cuda_waits_for_the_gpu", PUBLIC + "test_measure_time_cuda_leaves_out_warmup",
                 HIDDEN + "test_measure_time_simulated_gpu_hidden", HIDDEN + "test_measure_time_simulated_gpu_randomized"),
        message="CUDA calls return as soon as the work is queued, long before the GPU has finished it",
        message_ru="вызовы CUDA возвращаются, как только работа поставлена в очередь, задолго до того, как GPU "
                   "её закончит"),
    Mistake(
        id="transpose_view_timed", module="performance",
        title="Timing the transpose view instead of a real copy",
        title_ru="Замеряется представление после транспонирования, а не настоящая копия",
        story="`OPERATIONS['transpose']` returns `t.transpose(-2, -1)`: a view that moves no data, so the "
              "benchmark times nothing.",
        replace=(("return t.transpose(-2, -1).clone(memory_format=torch.contiguous_format)",
                  "return t.transpose(-2, -1)"),),
        catches=(PUBLIC + "test_operations_transpose_is_a_copy", HIDDEN + "test_operations_match_reference"),
        message='OPERATIONS["transpose"](t) must be a new tensor (a real copy), but it shares memory with the input',
        message_ru='OPERATIONS["transpose"](t) должен быть новым тензором (настоящей копией), а он делит память '
                   "с входным"),
    Mistake(
        id="speedup_upside_down", module="performance",
        title="The speed-up upside down", title_ru="Ускорение посчитано наоборот",
        story="`speedup = cuda_ms / cpu_ms`: a GPU 4 times faster shows as 0.25.",
        replace=(('entry["speedup"] = entry["cpu_ms"] / entry["cuda_ms"]',
                  'entry["speedup"] = entry["cuda_ms"] / entry["cpu_ms"]'),),
        catches=(PUBLIC + "test_speedup_table_with_cuda_rows", HIDDEN + "test_speedup_table_matches_reference"),
        message="that is cuda_ms / cpu_ms, upside down: speedup = cpu_ms / cuda_ms",
        message_ru="это cuda_ms / cpu_ms, дробь перевёрнута: speedup = cpu_ms / cuda_ms"),
    Mistake(
        id="generator_restarted_per_tensor", module="performance",
        title="A new generator for every tensor", title_ru="Новый генератор для каждого тензора",
        story="`torch.Generator().manual_seed(seed)` inside the loop: every tensor starts from the same numbers.",
        replace=(("torch.rand(tuple(shape), generator=generator, dtype=torch.float32)",
                  "torch.rand(tuple(shape), generator=torch.Generator().manual_seed(seed), dtype=torch.float32)"),),
        catches=(PUBLIC + "test_make_tensors_values", HIDDEN + "test_make_tensors_properties_hidden"),
        message="starts with the same numbers as make_tensors(shapes, 'cpu', 7)[0] — every tensor should get new "
                "random numbers",
        message_ru="начинается с тех же чисел, что и make_tensors(shapes, 'cpu', 7)[0], — каждый тензор должен "
                   "получать новые случайные числа"),
    Mistake(
        id="global_seed_in_make_tensors", module="performance",
        title="Seeding the global random generator", title_ru="Seed задаётся глобальному генератору случайных чисел",
        story="`torch.manual_seed(seed)` (which also returns the global generator): right numbers, but every "
              "later random number in the program is now predictable.",
        replace=(("generator = torch.Generator().manual_seed(seed)", "generator = torch.manual_seed(seed)"),),
        catches=(PUBLIC + "test_make_tensors_is_reproducible", HIDDEN + "test_make_tensors_leaves_global_rng_alone"),
        message="make_tensors changed the GLOBAL random state (e.g. with torch.manual_seed)",
        message_ru="make_tensors изменила ГЛОБАЛЬНОЕ состояние генератора случайных чисел (например, через "
                   "torch.manual_seed)"),
]
