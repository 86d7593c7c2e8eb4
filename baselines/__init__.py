"""Runnable baselines and adapters for other models' official code.

Each adapter is a lazy entry of :data:`a2bench.models.MODELS`: importing this package imports none of them.
"""
