"""Text from student code, made safe to show: no terminal escapes, no control characters.

Messages quote what a student's code raised or printed; a terminal, a Markdown file or a
spreadsheet must show that text as written, never act on it.
"""

from __future__ import annotations

import re

ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # (tab and newline stay)


def strip_terminal(text: str, control: str = "") -> str:
    """`text` without escape sequences; each other control character replaced by `control`."""
    return CONTROL.sub(control, ANSI.sub("", text))


#: What a stub raises: NotImplementedError("Task 1.1: create_tensors is not implemented yet").
#: Only this text means "not started"; PyTorch's own NotImplementedError (an operation a
#: device or layout does not support) is an ordinary error in the student's code.
STUB_MESSAGE = re.compile(r"^Task (\d+)\.\d+: ([\w.]+) is not implemented yet")


def points(x: float) -> str:
    """Points as people read them: at most two decimals (9.25, 33.5, 80.92)."""
    return f"{round(x, 2):g}"
