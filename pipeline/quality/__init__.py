"""Scoring synthetic rows against the real ones."""
