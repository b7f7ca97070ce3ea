"""NanoDet (RangiLyu; e.g. NanoDet-g) GFL head with separate per-level outputs.

Layout
------
For each stride ``s`` in 8, 16, 32 (an optional 64 is accepted) two outputs:

- scores ``[1, N_s, nc]`` float32, sigmoid already applied;
- boxes ``[1, N_s, 4 * (reg_max + 1)]`` float32: for the sides left, top, right,
  bottom, ``reg_max + 1`` logits of a discrete distance distribution (in units of
  the stride).

``N_s = ceil(H / s) * ceil(W / s)`` cells, row-major (2704, 676, 169 at 416 x 416).
NanoDet-g has ``reg_max = 10`` (44 box channels).

Decoding (cell at column ``col``, row ``row``)::

    p    = softmax(logits of one side over its reg_max + 1 bins)
    dist = sum_i(p_i * i) * s                  (one per side: l, t, r, b)
    cx, cy = (col + 0.5) * s, (row + 0.5) * s
    box  = (cx - l, cy - t, cx + r, cy + b)
    score = max(scores), class = argmax(scores)

Output names come from the card (``outputs.scores`` / ``outputs.boxes`` in stride
order, plus ``strides`` and ``reg_max``).

Recognition
-----------
Without a card the outputs are paired by shape: all rank-3, in two groups by last
dimension whose ``N`` values are the grid cells of strides 8/16/32 (or 8..64) of the
fixed input size.  The box group is the one whose last dimension is
``4 * (reg_max + 1)`` for a ``reg_max`` NanoDet uses (7 or 10); if both or neither
qualify the graph is not recognised.

Defaults (NanoDet's config): BGR, ``(x - [103.53, 116.28, 123.675]) / [57.375, 57.12,
58.395]``, plain stretch resize.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from streamer.detection.families.layout import (
    Decoded,
    Recognition,
    image_input,
    level_sizes,
    static_hw,
)
from streamer.detection.graph import GraphInfo, TensorInfo

if TYPE_CHECKING:
    from streamer.detection.card import ModelCard

FAMILY = "nanodet"
LAYOUT = "NanoDet per-stride scores [1,N,nc] + boxes [1,N,4*(reg_max+1)] for strides 8/16/32"
DEFAULT_INPUT: dict[str, Any] = {
    "color": "bgr", "mean": (103.53, 116.28, 123.675), "std": (57.375, 57.12, 58.395),
    "resize": "stretch", "letterbox_align": "center", "pad_value": 0.0,
}
#: reg_max values of published NanoDet heads (legacy m/t: 7, g: 10, Plus: 7).
KNOWN_REG_MAX = (7, 10)
STRIDE_SETS = ((8, 16, 32), (8, 16, 32, 64))


class Outputs(BaseModel):
    """Card ``outputs`` for NanoDet: per-stride output names, strides and reg_max."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scores: tuple[str, ...] = Field(min_length=1)
    boxes: tuple[str, ...] = Field(min_length=1)
    strides: tuple[int, ...] = Field(min_length=1)
    reg_max: int = Field(ge=1)

    @model_validator(mode="after")
    def _same_levels(self) -> Outputs:
        if not len(self.scores) == len(self.boxes) == len(self.strides):
            raise ValueError(
                f"scores, boxes and strides must have one entry per level, got "
                f"{len(self.scores)}, {len(self.boxes)}, {len(self.strides)}"
            )
        return self


def _levels(
    outputs: tuple[TensorInfo, ...], size: tuple[int, int]
) -> tuple[tuple[int, ...], dict[int, list[TensorInfo]]] | None:
    """Group outputs by last dim; return (strides, groups) if each group covers the levels."""
    groups: dict[int, list[TensorInfo]] = defaultdict(list)
    for out in outputs:
        if out.dtype != "float32" or len(out.shape) != 3 or out.shape[0] != 1:
            return None
        if not all(isinstance(d, int) for d in out.shape):
            return None
        groups[out.shape[2]].append(out)
    if len(groups) != 2:
        return None
    for strides in STRIDE_SETS:
        cells = sorted((r * c for r, c in level_sizes(*size, strides)), reverse=True)
        if all(sorted((o.shape[1] for o in g), reverse=True) == cells for g in groups.values()):
            return strides, groups
    return None


def recognise(graph: GraphInfo) -> Recognition | None:
    """Return the card fields of a NanoDet graph, or None if the layout differs."""
    tensor = image_input(graph)
    size = None if tensor is None else static_hw(tensor)
    if tensor is None or size is None or len(graph.outputs) < 6:
        return None
    found = _levels(graph.outputs, size)
    if found is None:
        return None
    strides, groups = found
    box_dims = [d for d in groups if d % 4 == 0 and d // 4 - 1 in KNOWN_REG_MAX]
    if len(box_dims) != 1:
        return None
    (box_dim,) = box_dims
    (score_dim,) = set(groups) - {box_dim}

    def by_level(group: list[TensorInfo]) -> list[str]:
        # More cells = finer stride, so descending N is stride order.
        return [o.name for o in sorted(group, key=lambda o: -o.shape[1])]

    return Recognition(
        family=FAMILY,
        input={"name": tensor.name, "height": size[0], "width": size[1], **DEFAULT_INPUT},
        outputs={
            "scores": by_level(groups[score_dim]),
            "boxes": by_level(groups[box_dim]),
            "strides": list(strides),
            "reg_max": box_dim // 4 - 1,
        },
        num_classes=score_dim,
    )


def output_names(outputs: dict[str, Any]) -> list[str]:
    """Return the graph outputs a validated ``outputs`` dict refers to."""
    return [*outputs["scores"], *outputs["boxes"]]


def decode(raw: dict[str, np.ndarray], card: ModelCard, *, conf: float) -> Decoded:
    """Decode NanoDet per-level outputs into candidate boxes.

    Parameters
    ----------
    raw : dict of str to numpy.ndarray
        Session outputs by name: per level, scores (1, N_s, nc) and boxes
        (1, N_s, 4*(reg_max+1)) named in ``card.outputs``.
    card : ModelCard
        Provides output names, strides, reg_max and the input size.
    conf : float
        Minimum class score kept.

    Returns
    -------
    xyxy : numpy.ndarray, shape (K, 4), float32
        Boxes in model-input pixels.
    score : numpy.ndarray, shape (K,), float32
    class_id : numpy.ndarray, shape (K,), int32
    """
    spec = card.outputs
    bins = spec["reg_max"] + 1
    sizes = level_sizes(card.input.height, card.input.width, spec["strides"])
    boxes, scores, classes = [], [], []
    for score_name, box_name, stride, (_, n_cols) in zip(
        spec["scores"], spec["boxes"], spec["strides"], sizes
    ):
        level_scores = raw[score_name][0]
        best = level_scores.max(axis=1)
        index = np.flatnonzero(best >= conf)
        row, col = np.divmod(index, n_cols)
        logits = raw[box_name][0][index].reshape(-1, 4, bins)
        # Subtracting the max keeps exp() finite; the softmax is unchanged.
        weights = np.exp(logits - logits.max(axis=2, keepdims=True))
        weights /= weights.sum(axis=2, keepdims=True)
        dist = (weights @ np.arange(bins, dtype=np.float32)) * stride  # (K, 4): l, t, r, b
        cx = (col + 0.5) * stride
        cy = (row + 0.5) * stride
        left, top, right, bottom = dist.T
        boxes.append(np.stack([cx - left, cy - top, cx + right, cy + bottom], axis=1))
        scores.append(best[index])
        classes.append(level_scores[index].argmax(axis=1))
    return (
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(scores).astype(np.float32),
        np.concatenate(classes).astype(np.int32),
    )
