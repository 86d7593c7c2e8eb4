"""What Animate-X++'s model sees, pinned to the release's documented processing (docs/animatex.md "Inputs").

The release's inference (``examples/inference_480p.py`` on the files of ``process_data.py``) feeds its model:

* pose images that ``process_data.py`` drew with DWPose's colour tuples as R, G, B, wrote with ``cv2.imwrite`` (which
  takes the array for BGR) and the inference script read back with PIL as RGB: red and blue exchanged;
* as the reference-pose image, ``pose.jpg`` when the pose folder has one, else the first file of the folder in sorted
  order (``process_data.py`` writes no ``pose.jpg``): the driving video's frame 0;
* as the IPI's OpenCLIP input, the original driving frames squashed straight to 224 × 224 (PIL bilinear), ``ToTensor``,
  CLIP mean/std, then rounded through bf16 (``q_former_data.to(torch_dtype)``) before the fp32 encoder, whose features
  stay fp32.

The expected values below come from those steps, done here with cv2 and PIL, not from a2bench's own code.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import a2bench.animatex  # noqa: F401 - the torchvision compatibility hook, before diffusers and open_clip
from a2bench.animatex.config import CLIP_MEAN, CLIP_STD, InputsConfig, get_preset
from a2bench.animatex.pipeline import AnimateXPipeline
from a2bench.animatex.testing import random_poses
from a2bench.core.adapter import AdapterError
from a2bench.core.pose import PoseSequence
from a2bench.core.pose.keypoints import NUM_KEYPOINTS
from a2bench.core.pose.render import POSE_VIDEO, as_model_input, render_poses
from a2bench.models import MODELS

SIZE = (96, 64)  # (W, H): multiples of 16
NECK, RIGHT_SHOULDER = 1, 2  # OpenPose-18 body joints; the first limb joins them


@pytest.fixture(scope="module")
def pipe() -> AnimateXPipeline:
    return AnimateXPipeline.tiny(seed=0)


def neck_and_shoulder(frames: int = 1) -> PoseSequence:
    """Only the neck (at 0.5, 0.3) and the right shoulder (at 0.25, 0.3): the first limb alone (also the reference)."""
    points = np.full((frames, NUM_KEYPOINTS, 3), -1.0, np.float32)
    points[:, NECK] = (0.5, 0.3, 0.9)
    points[:, RIGHT_SHOULDER] = (0.25, 0.3, 0.9)
    return PoseSequence(points, SIZE, 15, points[0], SIZE)


def as_the_release_reads_them(drawn: np.ndarray, suffix: str = ".jpg") -> np.ndarray:
    """The canvas written by ``cv2.imwrite`` (``.jpg``: its default quality, 95) and read back by PIL as RGB."""
    ok, encoded = cv2.imencode(suffix, drawn)
    assert ok
    return np.asarray(Image.open(io.BytesIO(encoded.tobytes())).convert("RGB"))


def test_release_pose_images_have_red_and_blue_exchanged(pipe: AnimateXPipeline) -> None:
    pose = neck_and_shoulder()
    neck, limb = (int(0.3 * SIZE[1]), int(0.5 * SIZE[0])), (int(0.3 * SIZE[1]), int(0.375 * SIZE[0]))
    drawn = render_poses(pose, SIZE, **POSE_VIDEO)[0]
    assert drawn[neck].tolist() == [255, 85, 0] and drawn[limb].tolist() == [153, 0, 0]  # DWPose's tuples, as drawn
    # Lossless, the release's write-and-read exchanges red and blue: the neck joint (0, 85, 255), the first limb
    # (dimmed to 60 %) (0, 0, 153).
    lossless = as_model_input(drawn, swap_rb=True)
    assert lossless[neck].tolist() == [0, 85, 255] and lossless[limb].tolist() == [0, 0, 153]
    np.testing.assert_array_equal(lossless, as_the_release_reads_them(drawn, ".png"))
    # The release's files are JPEGs: the pipeline hands its model exactly what PIL reads from cv2.imwrite's .jpg.
    assert pipe.model.config.inputs.jpeg_quality == 95
    _, video, _, _ = pipe.prepare_pose(pose, 1, SIZE, indices=[0])
    np.testing.assert_array_equal(video[0], as_the_release_reads_them(drawn))
    assert np.abs(video[0][neck].astype(int) - [0, 85, 255]).max() <= 8  # JPEG moves the colours a little
    # The same for the reference-pose image, and for a whole random pose (hands included).
    poses = random_poses(5, size=SIZE)
    _, video, _, ref = pipe.prepare_pose(poses, 5, SIZE, reference_pose="reference")
    drawn = render_poses(PoseSequence(poses.frames, SIZE, 15), SIZE, **POSE_VIDEO)
    np.testing.assert_array_equal(video, np.stack([as_the_release_reads_them(f) for f in drawn]))
    drawn_ref = render_poses(PoseSequence(poses.reference[None], SIZE, 15), SIZE, **POSE_VIDEO)[0]
    np.testing.assert_array_equal(ref, as_the_release_reads_them(drawn_ref))


def test_animatex_tiny_keeps_the_colours_it_was_trained_on() -> None:
    assert get_preset("animatex").inputs.swap_rb and get_preset("animatex-simple").inputs.swap_rb
    tiny = MODELS.get("animatex-tiny")()
    assert tiny.pipe.model.config.inputs == InputsConfig(swap_rb=False, jpeg_quality=None, reference_pose="reference")
    _, video, _, _ = tiny.pipe.prepare_pose(neck_and_shoulder(), 1, SIZE, indices=[0])
    assert video[0][int(0.3 * SIZE[1]), int(0.5 * SIZE[0])].tolist() == [255, 85, 0]


def test_a_small_pipeline_saved_without_inputs_loads_with_what_it_was_trained_on(pipe, tmp_path) -> None:
    import json

    folder = pipe.save_pretrained(tmp_path / "old")
    doc = json.loads((folder / "config.json").read_text())
    assert doc["model"]["inputs"] == {"swap_rb": True, "jpeg_quality": 95, "reference_pose": "driving"}  # the release's
    del doc["model"]["inputs"]  # as written before the field existed
    (folder / "config.json").write_text(json.dumps(doc))
    loaded = AnimateXPipeline.from_pretrained(folder)
    assert loaded.model.config.inputs == InputsConfig(swap_rb=False, jpeg_quality=None, reference_pose="reference")


def test_reference_pose_is_the_driving_frame_zero_by_default(pipe: AnimateXPipeline) -> None:
    poses = random_poses(12, size=SIZE)  # its reference pose differs from every frame

    def drawn(points: np.ndarray) -> np.ndarray:
        return pipe.model_colours(render_poses(PoseSequence(points[None], SIZE, 15), SIZE, **POSE_VIDEO)[0])

    assert pipe.model.config.inputs.reference_pose == "driving"
    _, video, _, ref = pipe.prepare_pose(poses, 9, SIZE, indices=range(3, 12))  # frame 0 is not sampled
    np.testing.assert_array_equal(ref, drawn(poses.frames[0]))
    assert not np.array_equal(ref, video[0])
    _, _, _, own = pipe.prepare_pose(poses, 9, SIZE, indices=range(3, 12), reference_pose="reference")
    np.testing.assert_array_equal(own, drawn(poses.reference))
    # Rendered frames: frame 0 of what was given; they carry no reference pose.
    frames = render_poses(poses, SIZE, **POSE_VIDEO)
    _, _, _, ref = pipe.prepare_pose(frames, 9, SIZE, indices=range(3, 12))
    np.testing.assert_array_equal(ref, pipe.model_colours(frames[0]))
    with pytest.raises(ValueError, match="no reference pose"):
        pipe.prepare_pose(frames, 9, SIZE, reference_pose="reference")
    with pytest.raises(ValueError, match="has none"):
        pipe.prepare_pose(PoseSequence(poses.frames, SIZE, 15), 9, SIZE, reference_pose="reference")
    with pytest.raises(ValueError, match="driving, reference"):
        pipe.prepare_pose(poses, 9, SIZE, reference_pose="first")


def test_the_adapters_take_the_reference_pose_rule_as_an_argument() -> None:
    adapter = MODELS.get("animatex-tiny")
    assert adapter(ref_pose="driving").identity() != adapter().identity()
    with pytest.raises(AdapterError, match="ref_pose must be one of driving, reference"):
        adapter(ref_pose="first")
    assert "ref_pose" in MODELS.get("animatex").arguments and "ref_pose" in MODELS.get("animatex-simple").arguments


def release_ipi_pixels(frames: np.ndarray, size: int) -> torch.Tensor:
    """``vit_transforms`` (PIL bilinear squash to ``size``, the release's 224; ToTensor; CLIP mean/std) and the bf16
    rounding of the release's ``q_former_data.to(torch_dtype)``."""
    rows = [np.asarray(Image.fromarray(f).resize((size, size), Image.BILINEAR), np.float32) / 255 for f in frames]
    x = torch.from_numpy(np.stack(rows)).permute(0, 3, 1, 2)
    x = (x - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return x.bfloat16().float()


def test_the_ipi_sees_the_driving_frames_as_the_release_prepares_them(pipe, monkeypatch) -> None:
    seen: dict[str, torch.Tensor] = {}
    hook = pipe.open_clip.register_forward_pre_hook(lambda module, args: seen.setdefault("pixels", args[0]))
    encode_ipi = pipe.model.encode_ipi

    def record(points: torch.Tensor, clip: torch.Tensor) -> torch.Tensor:
        seen["clip"] = clip
        return encode_ipi(points, clip)

    monkeypatch.setattr(pipe.model, "encode_ipi", record)
    monkeypatch.setattr(pipe, "compute_dtype", torch.bfloat16)  # the release's; the IPI modules stay fp32
    driving = np.random.default_rng(3).integers(0, 256, (9, 70, 50, 3), dtype=np.uint8)  # not the output size
    try:
        pipe.encode_ipi(random_poses(9).frames, driving)
    finally:
        hook.remove()
    expected = release_ipi_pixels(driving, pipe.open_clip.config.image_size)  # the tiny encoder's input size
    torch.testing.assert_close(seen["pixels"], expected, rtol=0, atol=0)
    features = seen["clip"][0]
    assert features.dtype == torch.float32
    torch.testing.assert_close(features, pipe.open_clip(expected), rtol=0, atol=0)  # not rounded after the encoder
    assert not torch.equal(features, features.bfloat16().float())


def test_the_pipeline_hands_the_ipi_the_sampled_driving_frames_at_their_own_size(pipe) -> None:
    seen: list[np.ndarray] = []
    original = pipe.encode_ipi
    pipe.encode_ipi = lambda points, frames: seen.append(frames) or original(points, frames)
    driving = np.random.default_rng(4).integers(0, 256, (12, 70, 50, 3), dtype=np.uint8)
    try:
        out = pipe(np.zeros((64, 96, 3), np.uint8), random_poses(12), "a person is dancing.", num_frames=9,
                   size=(48, 64), steps=1, stride=1, indices=range(2, 11), driving_frames=driving)  # fmt: skip
    finally:
        del pipe.encode_ipi
    assert out.indices.tolist() == list(range(2, 11))
    np.testing.assert_array_equal(seen[0], driving[2:11])
