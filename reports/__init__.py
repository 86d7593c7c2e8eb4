"""Leaderboards, plots and video galleries rendered from run records (read by the caller from the results database)."""
