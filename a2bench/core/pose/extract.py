"""DWPose whole-body keypoints from videos: YOLOX-L person boxes, then DWPose-L (RTMPose, SimCC) per box.

Matches the Animate-X++ release's ``dwpose/onnxdet.py`` and ``dwpose/onnxpose.py`` (DWPose's own ONNX
pipeline), read and re-implemented: on the same ONNX files and frames the numpy/OpenCV pre- and
post-processing gives bit-identical boxes and keypoints (``tests/test_pose_extract.py`` checks it against
the release when ``A2BENCH_ANIMATEX_DIR`` names a checkout). Deliberate differences (docs/pose.md):

* one person is tracked through the video (:func:`choose_box`) instead of taking the first box, and only
  that box goes through the pose network (the release runs it on every box and keeps the first);
* frames arrive as RGB (PyAV) and are handed to the networks in BGR, as the release's OpenCV decoding
  does, unless ``input_order="rgb"`` (what DWPose's ControlNet annotator feeds).

The models run on onnxruntime directly: rtmlib depends on opencv-python and opencv-contrib-python, which
would clash with the headless OpenCV a2bench uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from a2bench.core.pose.convert import from_coco_wholebody
from a2bench.core.pose.keypoints import PoseSequence
from a2bench.core.videoio import read_video
from a2bench.core.weights import WEIGHTS, WeightFile, WeightsError, fetch_command, resolve

if TYPE_CHECKING:
    import onnxruntime

_SOURCE = "Hugging Face LFS pointer of yzd-v/DWPose"
DETECTOR = WeightFile(
    name="yolox_l.onnx",
    url="https://huggingface.co/yzd-v/DWPose/resolve/main/yolox_l.onnx",
    used_by="a2bench pose extract (YOLOX-L person detector)",
    sha256="7860ae79de6c89a3c1eb72ae9a2756c0ccfbe04b7791bb5880afabd97855a411",
    size=216746733,
    source=_SOURCE,
)
WEIGHTS.register(DETECTOR.name, DETECTOR)
POSE_MODEL = WeightFile(
    name="dw-ll_ucoco_384.onnx",
    url="https://huggingface.co/yzd-v/DWPose/resolve/main/dw-ll_ucoco_384.onnx",
    used_by="a2bench pose extract (DWPose-L whole-body keypoints)",
    sha256="724f4ff2439ed61afb86fb8a1951ec39c6220682803b4a8bd4f598cd913b1843",
    size=134399116,
    source=_SOURCE,
)
WEIGHTS.register(POSE_MODEL.name, POSE_MODEL)

DETECTOR_SIZE = (640, 640)  # (height, width) of the letterboxed detector input
STRIDES = (8, 16, 32)
NMS_IOU, SCORE_FLOOR, PERSON_SCORE = 0.45, 0.1, 0.3
BOX_PADDING = 1.25
MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])
SIMCC_SPLIT = 2.0
TRACK_IOU = 0.3  # below this overlap with the previous person, the largest box is taken instead


def _check_image(array: np.ndarray, ndim: int, name: str) -> None:
    if array.ndim != ndim or array.shape[-1] != 3 or array.dtype != np.uint8 or not array.size:
        shape = "(T, H, W, 3)" if ndim == 4 else "(H, W, 3)"
        raise ValueError(f"{name} must be RGB uint8 {shape}, got {array.dtype} {array.shape}")


# ------------------------------------------------------------------------------------------------
# Detector: letterbox, YOLOX grid decoding, NMS (onnxdet.py)


def letterbox(image: np.ndarray, size: tuple[int, int] = DETECTOR_SIZE) -> tuple[np.ndarray, float]:
    """``(1, 3, H, W)`` float32 detector input: ``image`` scaled by ``ratio`` at the top left, padded with 114."""
    height, width = image.shape[:2]
    ratio = min(size[0] / height, size[1] / width)
    new_height, new_width = int(height * ratio), int(width * ratio)
    canvas = np.full((*size, 3), 114, np.uint8)
    canvas[:new_height, :new_width] = cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    return canvas.transpose(2, 0, 1)[None].astype(np.float32), ratio


def _anchors(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Grid cell ``(x, y)`` and stride of every YOLOX output row, finest level first, row-major."""
    cells, strides = [], []
    for stride in STRIDES:
        ys, xs = np.mgrid[: size[0] // stride, : size[1] // stride]
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=-1))
        strides.append(np.full((xs.size, 1), stride))
    return np.concatenate(cells), np.concatenate(strides)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> list[int]:
    """Greedy NMS with the ``+1`` pixel-area convention; indices kept, best first."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = width * height
        order = rest[inter / (areas[best] + areas[rest] - inter) <= iou]
    return keep


def decode_detections(output: np.ndarray, ratio: float, size: tuple[int, int] = DETECTOR_SIZE) -> np.ndarray:
    """YOLOX output ``(1, N, 85)`` → person boxes ``(K, 5)`` float64: x1, y1, x2, y2 in frame pixels, score.

    Score = objectness × class-0 probability; NMS runs on boxes above 0.1 and boxes above 0.3 are kept.
    (The release's class-aware NMS over all 80 classes keeps the same class-0 boxes in the same order.)
    """
    prediction = output[0]
    cells, strides = _anchors(size)
    centre = ((prediction[:, :2] + cells) * strides).astype(np.float32)
    extent = (np.exp(prediction[:, 2:4]) * strides).astype(np.float32)
    boxes = np.concatenate([centre - extent / 2.0, centre + extent / 2.0], axis=1) / ratio
    scores = prediction[:, 4] * prediction[:, 5]
    candidates = scores > SCORE_FLOOR  # compared in float32, the 0.3 below in float64, as in the release
    boxes, scores = boxes[candidates], scores[candidates]
    if not len(boxes):
        return np.zeros((0, 5))
    keep = nms(boxes, scores)
    detections = np.concatenate([boxes[keep], scores[keep, None]], axis=1).astype(np.float64)
    return detections[detections[:, 4] > PERSON_SCORE]


# ------------------------------------------------------------------------------------------------
# Pose model: box → affine crop, SimCC decoding (onnxpose.py)


def crop_transform(box: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre and scale (float64 ``(2,)``) of the crop for ``box`` and the 2×3 frame → crop matrix.

    The box grows by 1.25 and then to the ``(width, height)`` input's aspect ratio, keeping its centre.
    """
    x1, y1, x2, y2 = np.asarray(box[:4], dtype=np.float64)
    centre = np.array([x1 + x2, y1 + y2]) * 0.5
    box_width, box_height = np.array([x2 - x1, y2 - y1]) * BOX_PADDING
    width, height = input_size
    aspect = width / height
    if box_width > box_height * aspect:
        scale = np.array([box_width, box_width / aspect])
    else:
        scale = np.array([box_height * aspect, box_height])
    # Three point pairs: the centre, the point half a width above it, and that offset turned 90°.
    src = np.zeros((3, 2), np.float32)
    src[0] = centre
    src[1] = centre + np.array([0.0, scale[0] * -0.5])
    dst = np.zeros((3, 2), np.float32)
    dst[0] = [width * 0.5, height * 0.5]
    dst[1] = np.array([width * 0.5, height * 0.5]) + np.array([0.0, width * -0.5])
    for points in (src, dst):
        offset = points[0] - points[1]
        points[2] = points[1] + np.array([-offset[1], offset[0]])
    return centre, scale, cv2.getAffineTransform(src, dst)


def crop_input(image: np.ndarray, matrix: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """``(1, 3, h, w)`` float32 pose input: the warped crop, normalised with the ImageNet mean and std."""
    crop = cv2.warpAffine(image, matrix, input_size, flags=cv2.INTER_LINEAR)
    return ((crop - MEAN) / STD).astype(np.float32).transpose(2, 0, 1)[None]


def decode_simcc(
    simcc_x: np.ndarray,
    simcc_y: np.ndarray,
    centre: np.ndarray,
    scale: np.ndarray,
    input_size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """SimCC ``(1, K, 2w)``, ``(1, K, 2h)`` → keypoints ``(K, 2)`` float64 frame pixels, scores ``(K,)`` float32.

    Each axis' argmax bin / 2 is the crop position; the score is the smaller of the two maxima, and a
    point whose score is not positive is put at crop position -0.5 before mapping back.
    """
    locations = np.stack([simcc_x[0].argmax(axis=-1), simcc_y[0].argmax(axis=-1)], axis=-1).astype(np.float32)
    scores = np.minimum(simcc_x[0].max(axis=-1), simcc_y[0].max(axis=-1))
    locations[scores <= 0] = -1
    locations /= SIMCC_SPLIT
    return locations / np.array(input_size) * scale + centre - scale / 2, scores


# ------------------------------------------------------------------------------------------------
# The two networks


class DeviceError(RuntimeError):
    """onnxruntime cannot run on the requested device; the message says what to install."""


def _providers(device: str) -> list[str]:
    import onnxruntime

    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        available = onnxruntime.get_available_providers()
        if "CUDAExecutionProvider" not in available:
            raise DeviceError(
                f"device='cuda' needs onnxruntime with CUDAExecutionProvider; this onnxruntime offers "
                f"{', '.join(available)}. Install onnxruntime-gpu in place of onnxruntime, or use device='cpu'."
            )
        return ["CUDAExecutionProvider"]
    raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")


def _model_files(given: dict[str, str | Path | None]) -> tuple[list[Path], bool]:
    """Paths to the given files, the registry's copies in place of None (every problem reported at once),
    and whether all came from the registry with matching hashes."""
    paths, verified, problems = [], True, []
    for name, path in given.items():
        if path is not None:
            paths.append(Path(path))
            verified = False
            continue
        try:
            resolved = resolve(name)
        except WeightsError as exc:
            problems.append(str(exc))
            continue
        paths.append(resolved.path)
        verified &= resolved.verified
    if problems:
        raise WeightsError("\n".join(problems))
    return paths, verified


def _session(path: Path, providers: list[str], name: str) -> onnxruntime.InferenceSession:
    import onnxruntime

    if not path.is_file():
        raise WeightsError(f"{path}: no such model file ({name})")
    try:
        session = onnxruntime.InferenceSession(str(path), providers=providers)
    except Exception as exc:  # onnxruntime raises its own pybind error types
        raise WeightsError(
            f"{path} is not a loadable ONNX model ({exc}); re-fetch it with `{fetch_command(name)}`"
        ) from None
    if providers[0] not in session.get_providers():
        raise DeviceError(
            f"onnxruntime could not start {providers[0]} for {path} (it runs on {session.get_providers()}); "
            "check the CUDA and cuDNN libraries onnxruntime-gpu needs, or use device='cpu'"
        )
    return session


class DWPose:
    """The YOLOX-L detector and the DWPose-L whole-body model as two onnxruntime sessions.

    ``detector`` / ``pose_model``: ONNX files, or None to take ``yolox_l.onnx`` / ``dw-ll_ucoco_384.onnx``
    from the weights registry (hash-checked; a missing file raises :class:`WeightsError` naming the fetch
    command). ``verified`` is True when both came from the registry and matched their hashes.
    ``input_order``: the channel order the networks see, "bgr" (the Animate-X++ release, rtmlib) or
    "rgb" (DWPose's ControlNet annotator). Methods take RGB frames either way.
    """

    def __init__(
        self,
        detector: str | Path | None = None,
        pose_model: str | Path | None = None,
        *,
        device: str = "cpu",
        input_order: str = "bgr",
    ) -> None:
        if input_order not in ("bgr", "rgb"):
            raise ValueError(f"input_order must be 'bgr' or 'rgb', got {input_order!r}")
        self.input_order = input_order
        providers = _providers(device)
        (detector_path, pose_path), self.verified = _model_files({DETECTOR.name: detector, POSE_MODEL.name: pose_model})
        self._detector = _session(detector_path, providers, DETECTOR.name)
        self._pose = _session(pose_path, providers, POSE_MODEL.name)
        height, width = self._pose.get_inputs()[0].shape[2:]
        self.input_size = (int(width), int(height))

    def _network_order(self, frame: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(frame[..., ::-1]) if self.input_order == "bgr" else frame

    def detect(self, frame: np.ndarray) -> np.ndarray:
        """Person boxes ``(N, 5)`` (x1, y1, x2, y2, score; frame pixels) in an RGB uint8 ``(H, W, 3)`` frame."""
        _check_image(frame, 3, "frame")
        blob, ratio = letterbox(self._network_order(frame))
        output = self._detector.run(None, {self._detector.get_inputs()[0].name: blob})[0]
        return decode_detections(output, ratio)

    def keypoints(self, frame: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """COCO-WholeBody keypoints ``(N, 133, 2)`` pixels and scores ``(N, 133)``, one row per box.

        With no box the whole frame is one box (as the release does), so one row comes back.
        """
        _check_image(frame, 3, "frame")
        image = self._network_order(frame)
        if len(boxes) == 0:
            boxes = np.array([[0, 0, image.shape[1], image.shape[0]]])
        name = self._pose.get_inputs()[0].name
        outputs = [output.name for output in self._pose.get_outputs()]
        points, scores = [], []
        for box in boxes:
            centre, scale, matrix = crop_transform(box, self.input_size)
            simcc_x, simcc_y = self._pose.run(outputs, {name: crop_input(image, matrix, self.input_size)})
            xy, score = decode_simcc(simcc_x, simcc_y, centre, scale, self.input_size)
            points.append(xy)
            scores.append(score)
        return np.stack(points), np.stack(scores)


# ------------------------------------------------------------------------------------------------
# Videos: one tracked person per frame


def box_iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Intersection over union of each of ``boxes (N, ≥4)`` with ``box`` (continuous pixel areas)."""
    width = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    height = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    inter = width * height
    union = _area(boxes) + _area(box[None])[0] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def choose_box(boxes: np.ndarray, previous: np.ndarray | None, iou: float = TRACK_IOU) -> int | None:
    """Index of the tracked person among ``boxes``, or None when there is none.

    The box overlapping ``previous`` (the last chosen box) most, if that IoU is at least ``iou``;
    otherwise (and in the first frame with people) the largest box. Ties go to the first box.
    """
    if len(boxes) == 0:
        return None
    if previous is not None:
        overlap = box_iou(boxes, previous)
        if overlap.max() >= iou:
            return int(overlap.argmax())
    return int(_area(boxes).argmax())


@dataclass(frozen=True)
class Extraction:
    """The tracked person's pose, and per frame what the detector saw."""

    pose: PoseSequence  # 130 canonical points (convert.from_coco_wholebody, threshold 0.3)
    detected: np.ndarray  # (T,) bool: a person box was found (else the whole frame was the box)
    box_scores: np.ndarray  # (T,) float: score of the tracked box, NaN where none
    people: np.ndarray  # (T,) int: number of person boxes


def _tracked_keypoints(
    frame: np.ndarray, estimator: DWPose, previous: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Boxes, keypoints ``(133, 2)``, scores and the chosen box (None: the whole frame) of one frame."""
    boxes = estimator.detect(frame)
    index = choose_box(boxes, previous)
    chosen = None if index is None else boxes[index]
    xy, scores = estimator.keypoints(frame, boxes[:0] if chosen is None else chosen[None])
    return boxes, xy[0], scores[0], chosen


def extract_frames(
    frames: np.ndarray, fps: Fraction, estimator: DWPose, *, reference: np.ndarray | None = None
) -> Extraction:
    """DWPose keypoints of the tracked person in RGB uint8 ``frames (T, H, W, 3)``.

    ``reference`` (an RGB image, any size) gets its pose from its largest person box into ``pose.reference``.
    """
    _check_image(frames, 4, "frames")
    count = len(frames)
    xy, scores = np.empty((count, 133, 2)), np.empty((count, 133))
    box_scores, people = np.full(count, np.nan), np.zeros(count, int)
    previous = None
    for t, frame in enumerate(frames):
        boxes, xy[t], scores[t], chosen = _tracked_keypoints(frame, estimator, previous)
        people[t] = len(boxes)
        if chosen is not None:
            previous, box_scores[t] = chosen, chosen[4]
    size = (frames.shape[2], frames.shape[1])
    points = reference_size = None
    if reference is not None:
        _check_image(reference, 3, "reference")
        _, ref_xy, ref_scores, _ = _tracked_keypoints(reference, estimator, None)
        reference_size = (reference.shape[1], reference.shape[0])
        points = from_coco_wholebody(ref_xy[None], ref_scores[None], reference_size)[0]
    pose = PoseSequence(from_coco_wholebody(xy, scores, size), size, Fraction(fps), points, reference_size)
    return Extraction(pose, people > 0, box_scores, people)


def extract_video(path: Path, estimator: DWPose, **kw: np.ndarray | None) -> Extraction:
    """:func:`extract_frames` on a video file or PNG folder read with :func:`a2bench.core.videoio.read_video`."""
    video = read_video(path)
    return extract_frames(video.frames, video.fps, estimator, **kw)
