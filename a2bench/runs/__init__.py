"""Orchestration: running models over benchmarks, the results database, the CI gate and submissions.

It stands on every layer below (models, reports, metrics, baselines, animatex, core); only the CLI stands on it.
"""
