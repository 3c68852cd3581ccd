"""Helpers shared by the tests (no fixtures: those are in tests/conftest.py)."""
