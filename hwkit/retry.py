"""Timing tests, tried again when a timing only came out too long (the machine was busy)."""

from __future__ import annotations

import time

import pytest

from . import checks

TIMING_ATTEMPTS = 4


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool:
    """Call the test; again (up to TIMING_ATTEMPTS in all, after a short pause) if it failed only
    because a timing came out too long — on a loaded machine that passes, a real mistake does not."""
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    for attempt in range(1, TIMING_ATTEMPTS + 1):
        try:
            pyfuncitem.obj(**args)
            return True
        except checks.TooSlow:
            if attempt == TIMING_ATTEMPTS:
                raise
            # Let a burst of load pass (another grading's import, a pip install beside the batch):
            # 0.5, 1 and 2 s, 3.5 s in all, paid only by a timing that came out too long.
            time.sleep(0.25 * 2 ** attempt)
    return True
