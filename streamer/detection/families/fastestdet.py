"""FastestDet (dog-qiuqiu) single-scale head.

Layout
------
One output ``[1, 5 + nc, Hf, Wf]`` float32 on a stride-16 grid (22 x 22 for a 352 x 352
input).  Channels per cell (checked on the published ONNX graph: the objectness
branch ends in ``Sigmoid``, the class branch in ``Softmax`` over the channels, the box
branch in a plain ``Conv``):

- 0: objectness, sigmoid already applied;
- 1, 2: raw x/y offsets of the centre within the cell, ``tanh`` still to apply;
- 3, 4: raw width/height relative to the whole input, ``sigmoid`` still to apply;
- 5 ..: class probabilities (softmax already applied).

Decoding (cell at column ``col``, row ``row``; input size W x H)::

    cx = (col + tanh(ch1)) / Wf * W      cy = (row + tanh(ch2)) / Hf * H
    w  = sigmoid(ch3) * W                h  = sigmoid(ch4) * H
    score = obj ** 0.6 * max(cls) ** 0.4,  class = argmax(cls)

The score weighting is the one of the author's C++ examples (the Python example
multiplies plainly); it keeps confident single-class cells above usual thresholds.

Recognition
-----------
A single rank-4 output ``[1, 5 + nc, H/16, W/16]`` for a fixed ``[1, 3, H, W]`` input.

Defaults (the author's examples): BGR, ``/ 255``, plain stretch resize.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from streamer.detection.families.layout import (
    Decoded,
    Recognition,
    best_class,
    cxcywh_to_xyxy,
    image_input,
    single_output,
    static_hw,
)
from streamer.detection.graph import GraphInfo

if TYPE_CHECKING:
    from streamer.detection.card import ModelCard

FAMILY = "fastestdet"
LAYOUT = "FastestDet [1,5+nc,H/16,W/16]"
DEFAULT_INPUT: dict[str, Any] = {
    "color": "bgr", "mean": (0.0, 0.0, 0.0), "std": (255.0, 255.0, 255.0),
    "resize": "stretch", "letterbox_align": "center", "pad_value": 0.0,
}
STRIDE = 16


class Outputs(BaseModel):
    """Card ``outputs`` for FastestDet: the output name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    output: str


def recognise(graph: GraphInfo) -> Recognition | None:
    """Return the card fields of a FastestDet graph, or None if the layout differs."""
    tensor, out = image_input(graph), single_output(graph, rank=4)
    if tensor is None or out is None:
        return None
    size = static_hw(tensor)
    batch, channels, rows, cols = out.shape
    if size is None or batch != 1 or not isinstance(channels, int) or channels < 6:
        return None
    if (rows, cols) != (size[0] // STRIDE, size[1] // STRIDE):
        return None
    return Recognition(
        family=FAMILY,
        input={"name": tensor.name, "height": size[0], "width": size[1], **DEFAULT_INPUT},
        outputs={"output": out.name},
        num_classes=channels - 5,
    )


def output_names(outputs: dict[str, Any]) -> list[str]:
    """Return the graph output a validated ``outputs`` dict refers to."""
    return [outputs["output"]]


def decode(raw: dict[str, np.ndarray], card: ModelCard, *, conf: float) -> Decoded:
    """Decode a FastestDet feature map into candidate boxes.

    Parameters
    ----------
    raw : dict of str to numpy.ndarray
        Session outputs by name; ``raw[card.outputs["output"]]`` has shape
        (1, 5+nc, Hf, Wf).
    card : ModelCard
        Provides the output name and input size.
    conf : float
        Minimum ``obj**0.6 * cls**0.4`` kept.

    Returns
    -------
    xyxy : numpy.ndarray, shape (K, 4), float32
        Boxes in model-input pixels.
    score : numpy.ndarray, shape (K,), float32
    class_id : numpy.ndarray, shape (K,), int32
    """
    fmap = raw[card.outputs["output"]][0]
    n_rows, n_cols = fmap.shape[1:]
    cells = fmap.reshape(fmap.shape[0], -1).T  # (Hf*Wf, 5+nc), a view
    class_id, class_score = best_class(cells[:, 5:])
    score = cells[:, 0] ** 0.6 * class_score**0.4
    index = np.flatnonzero(score >= conf)
    row, col = np.divmod(index, n_cols)
    box = cells[index, 1:5]
    width, height = card.input.width, card.input.height
    cx = (col + np.tanh(box[:, 0])) / n_cols * width
    cy = (row + np.tanh(box[:, 1])) / n_rows * height
    w = width / (1.0 + np.exp(-box[:, 2]))
    h = height / (1.0 + np.exp(-box[:, 3]))
    return cxcywh_to_xyxy(cx, cy, w, h), score[index].astype(np.float32), class_id[index]
