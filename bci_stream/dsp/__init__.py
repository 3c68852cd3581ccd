"""Causal digital signal processing, the reference the step graphs are checked against."""
