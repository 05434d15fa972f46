"""The homework's three student modules (key -> module name), without importing torch."""

MODULES = {
    "tensors": "homework_tensors",
    "autograd": "homework_autograd",
    "performance": "homework_performance",
}
TASK_OF_MODULE = {"tensors": "task1", "autograd": "task2", "performance": "task3"}
