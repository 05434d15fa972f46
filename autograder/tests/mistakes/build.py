"""Write docs/mistakes.md from the catalogue: ``python -m autograder.tests.mistakes.build``."""

from __future__ import annotations

from autograder.tests import REPO

from .catalogue import all_mistakes

DOC = REPO / "docs" / "mistakes.md"
MODULE_TITLES = {"tensors": "Task 1 — tensors (`homework_tensors.py`)",
                 "autograd": "Task 2 — autograd (`homework_autograd.py`)",
                 "performance": "Task 3 — CPU vs CUDA performance (`homework_performance.py`)"}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def mistakes_doc() -> str:
    mistakes = all_mistakes()
    lines = ["# Common mistakes and what students are told", "",
             "Generated from `autograder/tests/mistakes/` by `python -m autograder.tests.mistakes.build`; "
             "`autograder/tests/test_mistakes.py` grades every entry (the reference with this one mistake) and "
             "checks that exactly the listed tests fail and that the student sees the message, in English and "
             "in Russian (`--lang ru`).", "",
             f"{len(mistakes)} mistakes.", ""]
    for module, title in MODULE_TITLES.items():
        lines += [f"## {title}", "", "| Mistake | What the student wrote | Caught by | The student reads |",
                  "|---|---|---|---|"]
        for m in (m for m in mistakes if m.module == module):
            caught = "<br>".join(f"`{t.split('::')[1]}`" + (" (hidden)" if t.startswith("autograder/") else "")
                                 for t in m.catches)
            lines.append(f"| **{_cell(m.title)}**<br>{_cell(m.title_ru)} | {_cell(m.story)} | {caught} | "
                         f"{_cell(m.message)}<br>*{_cell(m.message_ru)}* |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    DOC.write_text(mistakes_doc(), encoding="utf-8")
    print(f"wrote {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    main()
