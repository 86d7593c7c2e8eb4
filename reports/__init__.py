"""Leaderboards, plots and video galleries rendered from the results database."""

