"""Offline evaluation of per-sample decoders: trial accuracy after cue, curves, baselines, reports.

Needs the ``train`` extra for the CSP+LDA baseline (mne, scikit-learn) and the plots (matplotlib).
"""
