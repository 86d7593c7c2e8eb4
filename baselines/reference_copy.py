"""``reference-copy``: the reference image repeated for every frame — the floor every model must beat."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from a2bench.core.adapter import Adapter, Job
from a2bench.core.videoio import Video


class ReferenceCopy(Adapter):
    description = "Repeats the reference image for every frame (a static floor; no model)."

    def generate(self, jobs: Sequence[Job]) -> list[Video]:
        return [Video(np.repeat(job.reference()[None], job.num_frames, axis=0), job.fps) for job in jobs]
