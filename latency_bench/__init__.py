"""Benchmarks for bci-stream: they measure and report, side by side in one run; they never assert speed.

``python -m latency_bench inference`` runs the per-step compute benchmark
(:func:`latency_bench.inference.run_inference_bench`).
"""
