"""``folder``: scores videos generated elsewhere (``--model folder --model-arg path=DIR``).

The usual way results of closed or heavy models reach a leaderboard. ``DIR`` holds ``<sample_id>.mp4``
files, ``<sample_id>/`` frame folders or ``<sample_id>_<frame>.png`` files (:func:`a2bench.core.videoio.sample_videos`);
frames without ``video.json`` are taken at ``fps=`` or the benchmark's rate. The identity includes a hash of every
file in ``DIR``, so regenerated videos in the same folder are a new generation, never a stale reuse.
A sample without a video fails with that reason; it is not skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from a2bench.core.adapter import Adapter, AdapterError, Argument, Job
from a2bench.core.fileio import hash_file
from a2bench.core.videoio import Video, VideoError, read_sample, sample_videos


class Folder(Adapter):
    description = "Scores pre-generated videos: DIR/<sample_id>.mp4, DIR/<sample_id>/ frames or DIR/<id>_<frame>.png."
    arguments: ClassVar[dict[str, Argument]] = {
        "path": Argument(Path, "folder of videos named by sample id", required=True),
        "fps": Argument(float, "frame rate of frame folders without video.json (default: the benchmark's)"),
    }

    def __init__(self, device: str = "cpu", **args: str) -> None:
        super().__init__(device, **args)
        try:
            self.videos = sample_videos(self.args["path"])
        except ValueError as exc:
            raise AdapterError(str(exc)) from exc

    def identity(self) -> dict[str, Any]:
        digest = hashlib.sha256()
        for sample_id, source in sorted(self.videos.items()):
            files = list(source) if isinstance(source, tuple) else [source]
            files = sorted(source.iterdir()) if not isinstance(source, tuple) and source.is_dir() else files
            for file in files:
                digest.update(f"{sample_id}/{file.name}:{hash_file(file)}\n".encode())
        return {**super().identity(), "content": digest.hexdigest()}

    def generate(self, jobs: Sequence[Job]) -> list[Video]:
        out = []
        for job in jobs:
            path = self.videos.get(job.sample.id)
            if path is None:
                raise AdapterError(
                    f"sample {job.sample.id}: no {job.sample.id}.mp4 or {job.sample.id}/ in {self.args['path']}"
                )
            try:
                video = read_sample(path, self.args["fps"])
                # Frames without a rate are taken at the benchmark's: they must match its frame count anyway.
                out.append(video if isinstance(video, Video) else Video(video, job.fps))
            except VideoError as exc:
                raise AdapterError(f"sample {job.sample.id}: {exc}") from exc
        return out
