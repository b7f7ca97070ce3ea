"""Ultralytics exports: YOLOv8 / YOLO11 (``v8`` layout) and YOLOv5 (``v5`` layout).

Layouts
-------
``v8``: one output ``[1, 4 + nc, N]`` float32, one column per anchor point (N = grid
cells of strides 8/16/32, 8400 at 640 x 640).  Rows are ``cx, cy, w, h`` already in
model-input pixels, then ``nc`` class scores with the sigmoid applied; there is no
objectness::

    score = max(class scores),  class = argmax(class scores)

``v5``: one output ``[1, N, 5 + nc]`` float32 with three anchors per cell
(N = 3 x grid cells, 25200 at 640 x 640).  Columns are ``cx, cy, w, h`` in model-input
pixels (the export decodes the anchors), objectness, class scores::

    score = objectness * max(class scores)

Recognition
-----------
Ultralytics writes ``metadata_props`` into every export: ``author`` ("Ultralytics"),
``names`` (a dict literal ``{0: 'person', ...}``), ``stride`` (the largest stride) and
``imgsz`` (``[h, w]``).  When they are present the file is Ultralytics: the layout is
``v8`` if the output has ``4 + len(names)`` rows, ``v5`` if it has ``5 + len(names)``
columns.  ``imgsz`` gives the input size when the graph's is dynamic.

Without metadata, shapes decide: ``[1, C, N]`` with ``N`` equal to the grid cells of
the fixed input size is ``v8``; ``[1, N, 5 + nc]`` with ``N`` three times the grid
cells is ``v5``.  The latter is how YOLOv5 is told from YOLOX, whose raw head has
the same columns but one row per cell (and log-space sizes, see :mod:`.yolox`).

Defaults (Ultralytics' own preprocessing): RGB, ``/ 255``, letterboxed to the centre
with padding 114.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from streamer.detection.families.layout import (
    Decoded,
    Recognition,
    best_class,
    cxcywh_to_xyxy,
    grid_cells,
    image_input,
    single_output,
    static_hw,
)
from streamer.detection.graph import GraphInfo

if TYPE_CHECKING:
    from streamer.detection.card import ModelCard

FAMILY = "ultralytics"
LAYOUT = "Ultralytics YOLOv8/11 [1,4+nc,N] or YOLOv5 [1,N,5+nc] (N = 3 x grid cells)"
DEFAULT_INPUT: dict[str, Any] = {
    "color": "rgb", "mean": (0.0, 0.0, 0.0), "std": (255.0, 255.0, 255.0),
    "resize": "letterbox", "letterbox_align": "center", "pad_value": 114.0,
}


class Outputs(BaseModel):
    """Card ``outputs`` for Ultralytics: the output name and which layout it has."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    output: str
    layout: Literal["v8", "v5"] = "v8"


def _literal(text: str | None) -> Any:
    """Parse a Python literal from metadata, or return None."""
    if text is None:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def has_metadata(graph: GraphInfo) -> bool:
    """True when the graph carries Ultralytics export metadata."""
    author = graph.metadata.get("author", "")
    return author.lower().startswith("ultralytics") or {"names", "stride"} <= graph.metadata.keys()


def metadata_labels(graph: GraphInfo) -> tuple[str, ...] | None:
    """Return the class names stored in ``metadata_props['names']``, or None."""
    names = _literal(graph.metadata.get("names"))
    if isinstance(names, dict) and names and sorted(names) == list(range(len(names))):
        return tuple(str(names[i]) for i in range(len(names)))
    if isinstance(names, (list, tuple)) and names:
        return tuple(str(n) for n in names)
    return None


def _strides(graph: GraphInfo) -> tuple[int, ...]:
    # Metadata stores only the largest stride; the levels always start at 8.
    largest = _literal(graph.metadata.get("stride"))
    return (8, 16, 32, 64) if largest == 64 else (8, 16, 32)


def _input_hw(graph: GraphInfo) -> tuple[int, int] | None:
    tensor = image_input(graph)
    if tensor is None:
        return None
    size = static_hw(tensor)
    if size is not None:
        return size
    imgsz = _literal(graph.metadata.get("imgsz"))
    if isinstance(imgsz, int):
        return imgsz, imgsz
    if isinstance(imgsz, (list, tuple)) and len(imgsz) == 2:
        height, width = imgsz
        if isinstance(height, int) and isinstance(width, int):
            return height, width
    return None


def _layout(
    graph: GraphInfo, shape: tuple[Any, ...], size: tuple[int, int]
) -> tuple[str, int] | None:
    """Return (layout, number of classes) for an output shape, or None."""
    _, rows, cols = shape
    labels = metadata_labels(graph)
    if labels is not None:
        if rows == 4 + len(labels):
            return "v8", len(labels)
        if cols == 5 + len(labels):
            return "v5", len(labels)
        return None
    cells = grid_cells(*size, _strides(graph))
    if isinstance(rows, int) and rows >= 5 and cols == cells:
        return "v8", rows - 4
    if isinstance(cols, int) and cols >= 6 and rows == 3 * cells:
        return "v5", cols - 5
    return None


def recognise(graph: GraphInfo) -> Recognition | None:
    """Return the card fields of an Ultralytics graph, or None if the layout differs."""
    out, size = single_output(graph, rank=3), _input_hw(graph)
    # A dynamic batch dimension is fine: one frame is fed at a time.
    if out is None or size is None or isinstance(out.shape[0], int) and out.shape[0] != 1:
        return None
    found = _layout(graph, out.shape, size)
    if found is None:
        return None
    layout, num_classes = found
    return Recognition(
        family=FAMILY,
        input={"name": graph.inputs[0].name, "height": size[0], "width": size[1], **DEFAULT_INPUT},
        outputs={"output": out.name, "layout": layout},
        num_classes=num_classes,
        labels=metadata_labels(graph),
    )


def output_names(outputs: dict[str, Any]) -> list[str]:
    """Return the graph output a validated ``outputs`` dict refers to."""
    return [outputs["output"]]


def decode(raw: dict[str, np.ndarray], card: ModelCard, *, conf: float) -> Decoded:
    """Decode an Ultralytics output into candidate boxes.

    Parameters
    ----------
    raw : dict of str to numpy.ndarray
        Session outputs by name; ``raw[card.outputs["output"]]`` has shape
        (1, 4+nc, N) for layout ``v8`` or (1, N, 5+nc) for ``v5``.
    card : ModelCard
        Provides the output name and layout.
    conf : float
        Minimum score kept.

    Returns
    -------
    xyxy : numpy.ndarray, shape (K, 4), float32
        Boxes in model-input pixels.
    score : numpy.ndarray, shape (K,), float32
    class_id : numpy.ndarray, shape (K,), int32
    """
    pred = raw[card.outputs["output"]][0]
    if card.outputs["layout"] == "v8":
        # Transposed view (N, 4+nc): no copy until rows are selected.
        rows = pred.T
        best = rows[:, 4:].max(axis=1)
        index = np.flatnonzero(best >= conf)
        class_id, score = best_class(rows[index, 4:])
    else:
        rows = pred
        objectness = rows[:, 4]
        candidates = np.flatnonzero(objectness >= conf)
        class_id, class_score = best_class(rows[candidates, 5:])
        score = objectness[candidates] * class_score
        passed = score >= conf
        index, score, class_id = candidates[passed], score[passed], class_id[passed]
    box = rows[index, :4]
    return (
        cxcywh_to_xyxy(box[:, 0], box[:, 1], box[:, 2], box[:, 3]),
        score.astype(np.float32),
        class_id,
    )
