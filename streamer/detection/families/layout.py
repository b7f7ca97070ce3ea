"""What every family module shares: the recognition result and graph-shape helpers.

A family module (``yolox``, ``nanodet``, ``ultralytics``, ``fastestdet``) provides:

``FAMILY``
    The ``family`` value of a model card.
``LAYOUT``
    One line naming the output layout it decodes, for error messages.
``Outputs``
    A pydantic model validating the card's family-specific ``outputs`` dict.
``recognise(graph) -> Recognition | None``
    Whether a graph has this family's layout, and the card fields it implies.
``output_names(outputs) -> list[str]``
    The graph outputs a validated ``outputs`` dict refers to.
``decode(raw, card, *, conf) -> (xyxy, score, class_id)``
    Candidate boxes before NMS, see :data:`Decoded`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from streamer.detection.graph import GraphInfo, TensorInfo

if TYPE_CHECKING:
    from pydantic import BaseModel

    from streamer.detection.card import ModelCard

#: What a decoder returns: boxes x1, y1, x2, y2 in model-input pixels, shape (N, 4)
#: float32; score (N,) float32 (already >= conf); class index (N,) int32.
Decoded = tuple[np.ndarray, np.ndarray, np.ndarray]


class Family(Protocol):
    """The interface every family module satisfies (see the module docstring)."""

    FAMILY: str
    LAYOUT: str
    DEFAULT_INPUT: dict[str, Any]
    Outputs: type[BaseModel]

    def recognise(self, graph: GraphInfo) -> Recognition | None: ...  # noqa: D102

    def output_names(self, outputs: dict[str, Any]) -> list[str]: ...  # noqa: D102

    def decode(  # noqa: D102
        self, raw: dict[str, np.ndarray], card: ModelCard, *, conf: float
    ) -> Decoded: ...


@dataclass(frozen=True)
class Recognition:
    """Card fields implied by a graph that matches a family's layout.

    Attributes
    ----------
    family : str
        Card ``family`` value.
    input : dict
        Card ``input`` section (name, size, and the family's documented defaults).
    outputs : dict
        Card ``outputs`` section.
    num_classes : int
        Number of class scores per box.
    labels : tuple of str or None
        Class names found in the graph's metadata, if any.
    """

    family: str
    input: dict[str, Any]
    outputs: dict[str, Any]
    num_classes: int
    labels: tuple[str, ...] | None = field(default=None)


def image_input(graph: GraphInfo) -> TensorInfo | None:
    """Return the graph's only input if it is a float32 [1, 3, H, W] image, else None."""
    if len(graph.inputs) != 1:
        return None
    tensor = graph.inputs[0]
    if tensor.dtype != "float32" or len(tensor.shape) != 4 or tensor.shape[1] != 3:
        return None
    return tensor


def static_hw(tensor: TensorInfo) -> tuple[int, int] | None:
    """Return (H, W) of an NCHW input when both are fixed, else None."""
    height, width = tensor.shape[2], tensor.shape[3]
    if isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0:
        return height, width
    return None


def single_output(graph: GraphInfo, rank: int) -> TensorInfo | None:
    """Return the graph's only output if it is float32 of the given rank, else None."""
    if len(graph.outputs) != 1:
        return None
    tensor = graph.outputs[0]
    if tensor.dtype != "float32" or len(tensor.shape) != rank:
        return None
    return tensor


def level_sizes(height: int, width: int, strides: Sequence[int]) -> list[tuple[int, int]]:
    """Return the (rows, cols) of each stride's grid (rounded up like the backbones)."""
    return [(math.ceil(height / s), math.ceil(width / s)) for s in strides]


def grid_cells(height: int, width: int, strides: Sequence[int]) -> int:
    """Return the total number of grid cells over all strides."""
    return sum(r * c for r, c in level_sizes(height, width, strides))


def cell_grid(
    height: int, width: int, strides: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the column, row and stride of every cell, levels concatenated row-major.

    Parameters
    ----------
    height, width : int
        Model input size in pixels.
    strides : sequence of int
        Levels in the order the model concatenates them.

    Returns
    -------
    col, row, stride : numpy.ndarray, each shape (N,), float32
        ``N = grid_cells(height, width, strides)``.
    """
    cols, rows, steps = [], [], []
    for (n_rows, n_cols), stride in zip(level_sizes(height, width, strides), strides):
        row, col = np.divmod(np.arange(n_rows * n_cols, dtype=np.int64), n_cols)
        cols.append(col)
        rows.append(row)
        steps.append(np.full(n_rows * n_cols, stride))
    return (
        np.concatenate(cols).astype(np.float32),
        np.concatenate(rows).astype(np.float32),
        np.concatenate(steps).astype(np.float32),
    )


def best_class(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the best class and its score per row.

    Parameters
    ----------
    scores : numpy.ndarray, shape (N, C)

    Returns
    -------
    class_id : numpy.ndarray, shape (N,), int32
    score : numpy.ndarray, shape (N,), float32
    """
    class_id = scores.argmax(axis=1)
    score = np.take_along_axis(scores, class_id[:, None], axis=1)[:, 0]
    return class_id.astype(np.int32), score.astype(np.float32, copy=False)


def cxcywh_to_xyxy(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Return corners (N, 4) float32 from centre/size columns, each shape (N,)."""
    half_w, half_h = w / 2, h / 2
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1).astype(
        np.float32, copy=False
    )
