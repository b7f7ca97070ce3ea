"""YOLOX (Megvii) raw head output.

Layout
------
One output ``[1, N, 5 + nc]`` float32.  Rows are grid cells of strides 8, 16 and 32
concatenated in that order, each level row-major, so for a 416 x 416 input
``N = 52*52 + 26*26 + 13*13 = 3549``.  Columns are ``x, y, w, h, objectness,
class_0 .. class_{nc-1}``; objectness and class scores have the sigmoid applied, the
box columns are raw.

Decoding (cell at column ``col``, row ``row`` of a level with stride ``s``)::

    cx = (x + col) * s          cy = (y + row) * s
    w  = exp(w) * s             h  = exp(h) * s
    score = objectness * max(class scores),  class = argmax(class scores)

Boxes are in model-input pixels.  Exports made with ``--decode_in_inference`` are
already in pixels and are *not* this layout; they cannot be told apart by shape, so
such a file needs a card (and is not supported by this decoder).

Recognition
-----------
A single ``[1, N, 5 + nc]`` output with ``N`` equal to the number of stride-8/16/32
cells of a fixed input size, and no Ultralytics metadata.  YOLOv5 shares the column
layout but has three anchors per cell (``N`` three times larger), see
:mod:`.ultralytics`.

Defaults (Megvii's demo preprocessing): BGR, 0..255 without normalisation,
letterboxed to the top-left corner with padding 114.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from streamer.detection.families import ultralytics
from streamer.detection.families.layout import (
    Decoded,
    Recognition,
    best_class,
    cell_grid,
    cxcywh_to_xyxy,
    grid_cells,
    image_input,
    single_output,
    static_hw,
)
from streamer.detection.graph import GraphInfo

if TYPE_CHECKING:
    from streamer.detection.card import ModelCard

FAMILY = "yolox"
LAYOUT = "YOLOX [1,N,5+nc] with N = grid cells of strides 8/16/32"
DEFAULT_INPUT: dict[str, Any] = {
    "color": "bgr", "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0),
    "resize": "letterbox", "letterbox_align": "topleft", "pad_value": 114.0,
}
STRIDES = (8, 16, 32)


class Outputs(BaseModel):
    """Card ``outputs`` for YOLOX: the output name and the grid strides."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    output: str
    strides: tuple[int, ...] = Field(default=STRIDES, min_length=1)


def recognise(graph: GraphInfo) -> Recognition | None:
    """Return the card fields of a YOLOX graph, or None if the layout differs."""
    tensor, out = image_input(graph), single_output(graph, rank=3)
    if tensor is None or out is None or ultralytics.has_metadata(graph):
        return None
    size = static_hw(tensor)
    batch, rows, cols = out.shape
    if size is None or batch != 1 or not isinstance(cols, int) or cols < 6:
        return None
    if rows != grid_cells(*size, STRIDES):
        return None
    return Recognition(
        family=FAMILY,
        input={"name": tensor.name, "height": size[0], "width": size[1], **DEFAULT_INPUT},
        outputs={"output": out.name, "strides": list(STRIDES)},
        num_classes=cols - 5,
    )


def output_names(outputs: dict[str, Any]) -> list[str]:
    """Return the graph output a validated ``outputs`` dict refers to."""
    return [outputs["output"]]


def decode(raw: dict[str, np.ndarray], card: ModelCard, *, conf: float) -> Decoded:
    """Decode YOLOX head output into candidate boxes.

    Parameters
    ----------
    raw : dict of str to numpy.ndarray
        Session outputs by name; ``raw[card.outputs["output"]]`` has shape (1, N, 5+nc).
    card : ModelCard
        Provides the input size and strides.
    conf : float
        Minimum ``objectness * class score`` kept.

    Returns
    -------
    xyxy : numpy.ndarray, shape (K, 4), float32
        Boxes in model-input pixels.
    score : numpy.ndarray, shape (K,), float32
    class_id : numpy.ndarray, shape (K,), int32
    """
    pred = raw[card.outputs["output"]][0]
    objectness = pred[:, 4]
    # score = obj * cls <= obj, so rows below conf on objectness alone cannot pass.
    candidates = np.flatnonzero(objectness >= conf)
    class_id, class_score = best_class(pred[candidates, 5:])
    score = objectness[candidates] * class_score
    passed = score >= conf
    index, score, class_id = candidates[passed], score[passed], class_id[passed]

    col, row, stride = cell_grid(card.input.height, card.input.width, card.outputs["strides"])
    col, row, stride = col[index], row[index], stride[index]
    box = pred[index, :4]
    cx = (box[:, 0] + col) * stride
    cy = (box[:, 1] + row) * stride
    w = np.exp(box[:, 2]) * stride
    h = np.exp(box[:, 3]) * stride
    return cxcywh_to_xyxy(cx, cy, w, h), score.astype(np.float32), class_id
