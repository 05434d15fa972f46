"""Student-facing text in English or Russian: ``pytest --lang ru``, ``autograder grade --lang ru``
or ``feedback: {lang: ru}`` in grading.yml.

Messages are written in English in the code as ``tr("... {name} ...", name=value)``. The Russian
catalogue is compiled from ``locale/ru/*.po`` (``make locale``) into
``locale/ru/LC_MESSAGES/homework.mo`` and read with the standard library's gettext, so students
need nothing extra. Numbers and code (``torch.testing.assert_close``'s report, tracebacks) stay
as they are. (The task statements are translated when the release is built: ``autograder
release --lang ru``.)

A message with a number in it uses ``trn`` (a count: 1 тест, 2 теста, 5 тестов) or ``trp`` (points,
which can be fractional: 1 балл, 2 балла, 5 баллов, 0.75 балла), so that the noun agrees with it.
"""

from __future__ import annotations

import contextlib
import gettext
from pathlib import Path
from typing import Iterator

LANGUAGES = ("en", "ru")
LOCALE = Path(__file__).resolve().parent / "locale"
DOMAIN = "homework"

_translations: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def set_language(lang: str) -> None:
    """Use `lang` for every message from now on (one language per pytest run)."""
    global _translations, _language
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    _translations = gettext.NullTranslations() if lang == "en" else \
        gettext.translation(DOMAIN, LOCALE, languages=[lang], fallback=True)
    _language = lang


def language() -> str:
    return _language


@contextlib.contextmanager
def using(lang: str) -> Iterator[None]:
    """Messages in `lang` inside the block (e.g. a report written for a result graded earlier)."""
    before = _language
    set_language(lang)
    try:
        yield
    finally:
        set_language(before)


def tr(message: str, /, **values: object) -> str:
    """`message` in the current language, with ``{name}`` fields filled from `values`.

    With values, literal braces in the message must be doubled (``{{`` ``}}``), as for
    ``str.format``.
    """
    text = _translations.gettext(message)
    return text.format(**values) if values else text


def trn(singular: str, plural: str, n: int, /, **values: object) -> str:
    """`singular` or `plural` for the number `n` in the current language (Russian has three
    forms, chosen by gettext's ``ngettext`` from the catalogue's Plural-Forms); ``{n}`` and the
    `values` fields are filled in."""
    text = _translations.ngettext(singular, plural, n)
    return text.format(n=n, **values)


def trp(singular: str, plural: str, points: float, /, **values: object) -> str:
    """`singular` or `plural` for a number of points, which may be fractional; ``{points}`` is
    filled with the points as people read them (:func:`hwkit.text.points`: 0.75, 16.5, 8).

    A whole number chooses its form as ``trn`` does (1 балл, 2 балла, 5 баллов, 21 балл). A
    fraction takes the form that 2 takes: the plural in English (0.75 points), the genitive
    singular in Russian (0,75 балла, 16,5 балла), as both languages say it.
    """
    from .text import points as shown

    text = shown(points)
    value = float(text)
    n = int(value) if value.is_integer() else 2
    return _translations.ngettext(singular, plural, n).format(points=text, **values)
