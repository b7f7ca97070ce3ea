"""A model's batch dimension made dynamic, so one inference can take several cameras' frames.

Detector exports usually fix the batch at 1 twice over: in the declared input and output
shapes, and in the shape constants of their ``Reshape`` nodes (YOLOX-Nano's head reshapes
to ``[1, 85, -1]``; NanoDet-g's shape constants add up to ``[1, 44, -1]``). Declaring the
batch dynamic alone would make ONNX Runtime fold a batch of 2 into one image's rows.

:func:`dynamic_batch` edits the graph in memory with the ``onnx`` API, never the file:

1. every ``Reshape`` on the image's data path gets its runtime target shape (read by running
   the model once at batch 1 with those shapes as extra outputs, so shapes computed in the
   graph are found as well as constants); a leading 1 becomes 0, ONNX's "copy this dimension
   from the input", i.e. the batch;
2. the image input's and every output's first dimension becomes the symbol ``batch``; the
   inferred intermediate shapes (``value_info``) are dropped, ONNX Runtime infers them again.

:func:`check_batch` then proves it: a batch of different images must give, image for
image, the outputs of the unmodified model to ``BATCH_TOLERANCE``. A graph the edit does not
fit (a batch folded elsewhere, say into a ``Flatten``) fails the check and is simply run one
image at a time. Measured on the bundled models: YOLOX-Nano's outputs match exactly (0.0),
NanoDet-g's to 1.1e-5 (summation order in its convolutions).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

#: Largest absolute difference allowed between a batched output and the same image alone.
BATCH_TOLERANCE = 1e-4
#: The symbolic name given to the batch dimension.
BATCH_DIM = "batch"


def _quiet_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


def _image_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    weights = {init.name for init in model.graph.initializer}
    return next(v for v in model.graph.input if v.name not in weights)


def _data_path(model: onnx.ModelProto, source: str) -> set[str]:
    """Names of the tensors computed from ``source`` (nodes are in topological order)."""
    reached = {source}
    for node in model.graph.node:
        if any(name in reached for name in node.input):
            reached.update(node.output)
    return reached


def _static_shape(value: onnx.ValueInfoProto) -> list[int] | None:
    dims = value.type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else 0 for d in dims]
    return shape if shape and all(shape) else None


def dynamic_batch(path: str | Path | bytes) -> bytes | None:
    """The model at ``path`` with a dynamic batch dimension, serialised; None when not possible.

    Parameters
    ----------
    path : str or Path or bytes
        An ``.onnx`` file (or a serialised model: a detector's ``graph`` edited for
        ``--detect-size``) whose image input is 4-D ``[1, C, H, W]`` (or already dynamic in
        its first dimension) and whose outputs all start with the batch.

    Returns
    -------
    bytes or None
        The edited model (check it with :func:`check_batch` before use), or None when the
        input's size is not fixed (nothing to run the shape probe on) or the outputs do not
        start with a batch of 1. Never raises for a model ONNX Runtime can load.
    """
    model = onnx.load_from_string(path) if isinstance(path, bytes) else onnx.load(str(path))
    image = _image_input(model)
    dims = image.type.tensor_type.shape.dim
    if len(dims) != 4:
        return None
    probe_shape = [1] + [d.dim_value for d in dims[1:]]
    if not all(probe_shape):
        return None
    for out in model.graph.output:
        first = out.type.tensor_type.shape.dim
        if not first or (first[0].HasField("dim_value") and first[0].dim_value != 1):
            return None
    on_path = _data_path(model, image.name)
    reshapes = [n for n in model.graph.node if n.op_type == "Reshape" and n.input[0] in on_path]
    if reshapes:
        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        known = {o.name for o in probe.graph.output}
        for name in dict.fromkeys(n.input[1] for n in reshapes):
            if name not in known:
                probe.graph.output.append(helper.make_empty_tensor_value_info(name))
        try:
            session = ort.InferenceSession(probe.SerializeToString(), _quiet_options(),
                                           providers=["CPUExecutionProvider"])
            dtype = np.float32 if image.type.tensor_type.elem_type == onnx.TensorProto.FLOAT else np.float16
            shapes = session.run([n.input[1] for n in reshapes], {image.name: np.zeros(probe_shape, dtype)})
        except Exception:  # noqa: BLE001 - any failure here only means "run one image at a time"
            return None
        for node, shape in zip(reshapes, shapes):
            if shape.ndim == 1 and shape.size and shape[0] == 1:
                target = shape.astype(np.int64).copy()
                target[0] = 0  # copy the batch from the input (allowzero=0, the default)
                name = f"{node.name or node.output[0]}/dynamic_batch_shape"
                model.graph.initializer.append(numpy_helper.from_array(target, name))
                node.input[1] = name
    for value in [image, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].Clear()
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM
    del model.graph.value_info[:]
    return model.SerializeToString()


def check_batch(reference: ort.InferenceSession, batched: ort.InferenceSession,
                output_names: Sequence[str], batch: np.ndarray) -> float:
    """Largest difference between ``batched`` on ``batch`` and ``reference`` image by image.

    Parameters
    ----------
    reference, batched : onnxruntime.InferenceSession
        The unmodified model (batch 1) and its :func:`dynamic_batch` edit.
    output_names : sequence of str
        The outputs to compare.
    batch : numpy.ndarray, shape (B, C, H, W)
        Model inputs, B >= 2, different from each other (a batch of identical images would
        hide images being mixed up).

    Returns
    -------
    float
        ``inf`` when the batched model fails or returns other shapes.
    """
    name = reference.get_inputs()[0].name
    try:
        together = batched.run(list(output_names), {name: batch})
    except Exception:  # noqa: BLE001 - a graph the edit did not fit fails here
        return float("inf")
    worst = 0.0
    for i in range(batch.shape[0]):
        alone = reference.run(list(output_names), {name: batch[i:i + 1]})
        for a, b in zip(alone, together):
            if b.shape[0] != batch.shape[0] or a.shape[1:] != b.shape[1:]:
                return float("inf")
            worst = max(worst, float(np.max(np.abs(a[0].astype(np.float64) - b[i]))) if a.size else 0.0)
    return worst


def probe_pictures(width: int, height: int, n: int = 3, seed: int = 0) -> list[np.ndarray]:
    """``n`` different BGR pictures, shape (height, width, 3) uint8, for :func:`check_batch`.

    Smooth (blocks of 16 pixels) rather than white noise, so that a detector's activations
    look like a picture's once it has prepared them as it prepares frames.
    """
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, -(-height // 16), -(-width // 16), 3), dtype=np.uint8)
    return [np.ascontiguousarray(p.repeat(16, axis=0).repeat(16, axis=1)[:height, :width]) for p in small]
