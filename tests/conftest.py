"""Loads the homework plugin: ``--submission``, task markers, the ``hw`` fixture, points summary."""

from hwkit.plugin import *  # noqa: F401,F403  (pytest finds hooks and fixtures by name)
