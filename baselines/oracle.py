"""``gt-oracle``: returns the ground truth, to check that every metric reaches its ideal value.

It is an oracle, not a model (``uses_ground_truth``): reports never rank it with models. It only
works where the protocol has ground truth; for the cross protocol of a benchmark without rendered
cross-driven videos it fails each sample with that reason instead of returning the wrong video.
"""

from __future__ import annotations

from collections.abc import Sequence

from a2bench.core.adapter import Adapter, AdapterError, Job
from a2bench.core.videoio import Video


class GroundTruthOracle(Adapter):
    description = "Returns the ground-truth video (checks that metrics reach their ideal; not a model)."
    uses_ground_truth = True

    def generate(self, jobs: Sequence[Job]) -> list[Video]:
        for job in jobs:
            if not job.task.target_is_ground_truth:
                raise AdapterError(
                    f"sample {job.sample.id}: the {job.task.protocol} protocol of this benchmark has no ground truth "
                    "(no cross-driven video), so there is nothing for the oracle to return"
                )
        return [job.task.target for job in jobs]
