"""Test support for detection: reference decoders and NMS, synthetic ONNX models.

The reference decoders and NMS are obviously-correct plain loops over cells and boxes.
Each follows the formulas in the family's module docstring (and the model README),
written independently of the vectorised code, one cell at a time.  They return boxes
in model-input pixels in cell order, like the real decoders, as
``(xyxy (N, 4) float64, score (N,) float64, class_id (N,) int64)``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
#: The bundled NanoDet-g model (built into the repository's models/ folder).
BUNDLED_NANODET = ROOT / "models" / "nanodet_g_416_coco.onnx"
#: The bundled default detector, YOLOX-Nano (committed to models/).
BUNDLED_YOLOX = ROOT / "models" / "yolox_nano_416_coco.onnx"


def bundled_nanodet() -> Path:
    """The bundled NanoDet-g file, skipping the calling test until it has been built."""
    if not BUNDLED_NANODET.is_file():
        pytest.skip(f"bundled model {BUNDLED_NANODET} not built yet")
    return BUNDLED_NANODET


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _result(rows: list[tuple[float, float, float, float, float, int]]) -> tuple[np.ndarray, ...]:
    if not rows:
        return np.empty((0, 4)), np.empty(0), np.empty(0, np.int64)
    table = np.array([r[:5] for r in rows], np.float64)
    return table[:, :4], table[:, 4], np.array([r[5] for r in rows], np.int64)


def _levels(height: int, width: int, strides: list[int]) -> list[tuple[int, int, int]]:
    """(stride, rows, cols) of each level, in output order."""
    return [(s, math.ceil(height / s), math.ceil(width / s)) for s in strides]


def yolox(pred: np.ndarray, height: int, width: int, conf: float) -> tuple[np.ndarray, ...]:
    """pred: (1, N, 5+nc) raw YOLOX head."""
    rows, n = [], 0
    for stride, n_rows, n_cols in _levels(height, width, [8, 16, 32]):
        for r in range(n_rows):
            for c in range(n_cols):
                x, y, w, h, obj, *cls = (float(v) for v in pred[0, n])
                n += 1
                k = int(np.argmax(cls))
                score = obj * cls[k]
                if score < conf:
                    continue
                cx, cy = (x + c) * stride, (y + r) * stride
                bw, bh = math.exp(w) * stride, math.exp(h) * stride
                rows.append((cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, score, k))
    assert n == pred.shape[1]
    return _result(rows)


def ultralytics_v8(pred: np.ndarray, conf: float) -> tuple[np.ndarray, ...]:
    """pred: (1, 4+nc, N), cx cy w h in pixels then class scores."""
    rows = []
    for n in range(pred.shape[2]):
        cx, cy, w, h, *cls = (float(v) for v in pred[0, :, n])
        k = int(np.argmax(cls))
        if cls[k] >= conf:
            rows.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, cls[k], k))
    return _result(rows)


def ultralytics_v5(pred: np.ndarray, conf: float) -> tuple[np.ndarray, ...]:
    """pred: (1, N, 5+nc), cx cy w h in pixels, objectness, class scores."""
    rows = []
    for n in range(pred.shape[1]):
        cx, cy, w, h, obj, *cls = (float(v) for v in pred[0, n])
        k = int(np.argmax(cls))
        if obj * cls[k] >= conf:
            rows.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, obj * cls[k], k))
    return _result(rows)


def fastestdet(pred: np.ndarray, height: int, width: int, conf: float) -> tuple[np.ndarray, ...]:
    """pred: (1, 5+nc, Hf, Wf); obj and classes activated, box channels raw."""
    rows = []
    _, _, n_rows, n_cols = pred.shape
    for r in range(n_rows):
        for c in range(n_cols):
            obj, dx, dy, dw, dh, *cls = (float(v) for v in pred[0, :, r, c])
            k = int(np.argmax(cls))
            score = obj**0.6 * cls[k] ** 0.4
            if score < conf:
                continue
            cx = (c + math.tanh(dx)) / n_cols * width
            cy = (r + math.tanh(dy)) / n_rows * height
            bw, bh = _sigmoid(dw) * width, _sigmoid(dh) * height
            rows.append((cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, score, k))
    return _result(rows)


def nanodet(
    scores: list[np.ndarray],
    boxes: list[np.ndarray],
    strides: list[int],
    reg_max: int,
    height: int,
    width: int,
    conf: float,
) -> tuple[np.ndarray, ...]:
    """scores[i]: (1, N_i, nc) activated; boxes[i]: (1, N_i, 4*(reg_max+1)) logits."""
    rows = []
    for level_scores, level_boxes, (stride, n_rows, n_cols) in zip(
        scores, boxes, _levels(height, width, strides)
    ):
        n = 0
        for r in range(n_rows):
            for c in range(n_cols):
                cls = [float(v) for v in level_scores[0, n]]
                logits = [float(v) for v in level_boxes[0, n]]
                n += 1
                k = int(np.argmax(cls))
                if cls[k] < conf:
                    continue
                dist = []
                for side in range(4):
                    bins = logits[side * (reg_max + 1) : (side + 1) * (reg_max + 1)]
                    top = max(bins)
                    weights = [math.exp(b - top) for b in bins]
                    total = sum(weights)
                    dist.append(sum(i * w / total for i, w in enumerate(weights)) * stride)
                cx, cy = (c + 0.5) * stride, (r + 0.5) * stride
                rows.append((cx - dist[0], cy - dist[1], cx + dist[2], cy + dist[3], cls[k], k))
    return _result(rows)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two x1, y1, x2, y2 boxes (0 when both are empty)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]) + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms(xyxy: np.ndarray, scores: np.ndarray, threshold: float, classes: np.ndarray | None = None) -> list[int]:
    """Greedy NMS by pairwise loops; boxes of different classes never suppress each other."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept: list[int] = []
    for i in order:
        if all(
            (classes is not None and classes[i] != classes[j]) or iou(xyxy[i], xyxy[j]) <= threshold
            for j in kept
        ):
            kept.append(i)
    return kept


def assert_same(decoded: tuple[np.ndarray, ...], reference: tuple[np.ndarray, ...]) -> None:
    """Check a product decoder's output against a reference decode (same rows, same order)."""
    (xyxy, score, class_id), (ref_xyxy, ref_score, ref_class) = decoded, reference
    assert xyxy.dtype == np.float32 and score.dtype == np.float32 and class_id.dtype == np.int32
    assert len(score) == len(ref_score) > 0
    np.testing.assert_allclose(xyxy, ref_xyxy, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(score, ref_score, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(class_id, ref_class)


def constant_model(
    path: Path,
    inputs: dict[str, list[int | str]],
    outputs: dict[str, np.ndarray],
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write an ONNX model whose outputs are constants (its inputs are ignored).

    Enough to exercise recognition and the whole detect path with outputs chosen by
    the test; ONNX Runtime runs it like any model.
    """
    nodes = [
        helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, f"{name}_value"))
        for name, value in outputs.items()
    ]
    graph = helper.make_graph(
        nodes,
        "synthetic",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n, shape in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(v.shape)) for n, v in outputs.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # a version every supported ONNX Runtime reads
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.save(model, str(path))
    return path
