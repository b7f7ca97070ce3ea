"""``--detect-size``: run a detector at another input size than its export's.

The bundled exports are fully convolutional: YOLOX-Nano upsamples by scale (2x) and reshapes
its head to ``[1, 85, -1]``; NanoDet-g computes its reshape targets in the graph.  Only the
*declared* input and output shapes fix 416x416, and ONNX Runtime refuses other inputs
because of them.  :func:`resized_graph` edits the graph in memory (never the file): the
input's height and width become the new size, the output dimensions after the first
become symbolic and the stored intermediate shapes are dropped (ONNX Runtime infers them
again).  The card's input size changes with it, so the letterbox fills the smaller input
and the family decoder's grids follow (``cell_grid`` / ``level_sizes`` read the size from
the card).  :func:`check_outputs` then proves the graph really followed: one inference,
every output with the number of grid cells the decoder will assume.

Only families whose decoder derives its grid from the input size are resizable (YOLOX,
NanoDet); Ultralytics exports and FastestDet bake anchors or grids for their export size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from streamer.detection.card import ModelCard
from streamer.detection.families.layout import grid_cells, level_sizes
from streamer.errors import ConfigError, ModelError

#: Families whose decoder follows the card's input size.
RESIZABLE = ("yolox", "nanodet")


def resized_card(card: ModelCard, size: int) -> ModelCard:
    """The card for an input whose longer side is ``size`` (aspect ratio kept).

    Parameters
    ----------
    card : ModelCard
        The model's own card (bound to its graph).
    size : int
        New longer side in pixels; a multiple of the model's largest stride.

    Returns
    -------
    ModelCard
        ``card`` with ``input.width`` and ``input.height`` changed.

    Raises
    ------
    ConfigError
        If the family cannot be resized or ``size`` does not fit its strides.
    """
    if card.family not in RESIZABLE:
        raise ConfigError(f"detect_size: the {card.family} decoder assumes the export's "
                          f"{card.input.width}x{card.input.height} input (resizable: {', '.join(RESIZABLE)})")
    stride = max((card.outputs or {}).get("strides") or [32])
    if size % stride or size < stride:
        raise ConfigError(f"detect_size {size}: must be a multiple of {stride}, the model's largest stride "
                          f"(e.g. {max(stride, size // stride * stride)})")
    longer = max(card.input.width, card.input.height)
    width, height = (max(stride, round(side * size / longer / stride) * stride)
                     for side in (card.input.width, card.input.height))
    return card.model_copy(update={"input": card.input.model_copy(update={"width": width, "height": height})})


def resized_graph(path: str | Path, card: ModelCard) -> bytes:
    """The model at ``path`` declared for ``card``'s input size, serialised.

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file.
    card : ModelCard
        From :func:`resized_card`.

    Returns
    -------
    bytes
        The edited model, for ``onnxruntime.InferenceSession``.
    """
    import onnx

    model = onnx.load(str(path))
    image = next(v for v in model.graph.input if v.name == card.input.name)
    dims = image.type.tensor_type.shape.dim
    for axis, value in ((2, card.input.height), (3, card.input.width)):
        dims[axis].Clear()
        dims[axis].dim_value = value
    for out in model.graph.output:
        for i, dim in enumerate(out.type.tensor_type.shape.dim):
            if i > 0:
                dim.Clear()
                dim.dim_param = f"{out.name}_{i}"
    del model.graph.value_info[:]
    return model.SerializeToString()


def check_outputs(session: Any, card: ModelCard, names: list[str]) -> None:
    """Run one blank input and check every output has the rows the decoder will assume.

    Raises
    ------
    ModelError
        If the graph fails at that size or does not follow it (a size baked in somewhere).
    """
    spec = card.input
    feed = {spec.name: np.zeros((1, 3, spec.height, spec.width), np.float32)}
    where = f"model {card.file} at {spec.width}x{spec.height}"
    try:
        outputs = dict(zip(names, session.run(names, feed)))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{where}: ONNX Runtime cannot run it ({first})") from exc
    strides = card.outputs["strides"]  # type: ignore[index]
    if card.family == "yolox":
        expected = {card.outputs["output"]: grid_cells(spec.height, spec.width, strides)}  # type: ignore[index]
    else:
        cells = [r * c for r, c in level_sizes(spec.height, spec.width, strides)]
        expected = {name: n for group in ("scores", "boxes")
                    for name, n in zip(card.outputs[group], cells)}  # type: ignore[index]
    for name, rows in expected.items():
        if outputs[name].shape[1] != rows:
            raise ModelError(f"{where}: output {name} has {outputs[name].shape[1]} rows, not the {rows} "
                             "grid cells of that size (the graph does not follow the input size)")
