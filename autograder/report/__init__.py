"""Reporters: each reads a GradingResult and writes one format."""
