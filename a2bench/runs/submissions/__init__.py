"""Leaderboard submissions: pack a run into a zip bundle, and validate a bundle without trusting it.

- :mod:`~a2bench.runs.submissions.schema`: the bundle format, ``bundle.json`` written and read back checked (the run
  record through its own reader);
- :mod:`~a2bench.runs.submissions.pack`: ``a2bench submit``, a recorded run into a bundle;
- :mod:`~a2bench.runs.submissions.archive`: a hardened zip reader (member names, types, sizes, counts, ratios, all
  within :class:`Limits` before any member is read; bounded member streams);
- :mod:`~a2bench.runs.submissions.validate`: ``a2bench validate``, every check in order, and re-scoring.
"""

from a2bench.runs.submissions.archive import Limits
from a2bench.runs.submissions.pack import SubmissionError, build_submission
from a2bench.runs.submissions.validate import ValidationReport, validate_submission

__all__ = ["Limits", "SubmissionError", "ValidationReport", "build_submission", "validate_submission"]
