"""Mistakes in homework_performance.py (see catalogue.py for the fields)."""

from __future__ import annotations

from .catalogue import Mistake

MISTAKES: list[Mistake] = []
