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
