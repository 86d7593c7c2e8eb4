"""``folder``: scores videos generated elsewhere (``--model folder --model-arg path=DIR``).

The usual way results of closed or heavy models reach a leaderboard. ``DIR`` holds
``<sample_id>.mp4`` files or ``<sample_id>/`` PNG folders. The identity includes a hash of every
file in ``DIR``, so regenerated videos in the same folder are a new generation, never a stale reuse.
A sample without a video fails with that reason; it is not skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from a2bench.fileio import hash_file
from a2bench.models import Adapter, AdapterError, Argument, Job, register
from a2bench.videoio import Video, VideoError, read_video


@register
class Folder(Adapter):
    name = "folder"
    description = "Scores pre-generated videos: DIR/<sample_id>.mp4 or DIR/<sample_id>/ PNG frames."
    arguments: ClassVar[dict[str, Argument]] = {
        "path": Argument(Path, "folder of videos named by sample id", required=True)
    }

    def __init__(self, device: str = "cpu", **args: str) -> None:
        from metrics.evaluate import video_folder

        super().__init__(device, **args)
        try:
            self.videos = video_folder(self.args["path"])
        except ValueError as exc:
            raise AdapterError(str(exc)) from exc

    def identity(self) -> dict[str, Any]:
        digest = hashlib.sha256()
        for sample_id, path in sorted(self.videos.items()):
            files = sorted(path.iterdir()) if path.is_dir() else [path]
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
                out.append(read_video(path))
            except VideoError as exc:
                raise AdapterError(f"sample {job.sample.id}: {exc}") from exc
        return out
