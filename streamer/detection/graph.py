"""What an ONNX file declares (inputs, outputs, metadata), read without running it.

This is the one place that opens a model with the ``onnx`` package, so its exceptions
(protobuf decode errors, missing files) become :class:`~streamer.errors.ModelError`
here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from streamer.errors import ModelError

#: A dimension: an int when fixed, the symbolic name (or None) when dynamic.
Dim = int | str | None


@dataclass(frozen=True)
class TensorInfo:
    """Name, shape and element type of one graph input or output."""

    name: str
    shape: tuple[Dim, ...]
    dtype: str
    """NumPy dtype name, e.g. ``"float32"``."""

    def __str__(self) -> str:
        # Exporters write whole formulas as symbolic dims; a long one says nothing useful.
        dims = ",".join(
            "?" if d is None or (isinstance(d, str) and len(d) > 12) else str(d)
            for d in self.shape
        )
        return f"{self.name} [{dims}] {self.dtype}"

    @property
    def static(self) -> bool:
        """True when every dimension is a fixed int."""
        return all(isinstance(d, int) for d in self.shape)


@dataclass(frozen=True)
class GraphInfo:
    """The interface of an ONNX model.

    Attributes
    ----------
    path : Path
        The file it was read from.
    inputs, outputs : tuple of TensorInfo
        Graph inputs (initializers excluded: old exporters list weights as inputs) and
        outputs, in graph order.
    metadata : dict of str to str
        ``metadata_props`` (Ultralytics exports store ``names``, ``stride``, ``imgsz``).
    """

    path: Path
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    metadata: dict[str, str]

    def output(self, name: str) -> TensorInfo | None:
        """Return the output called ``name``, or None."""
        return next((o for o in self.outputs if o.name == name), None)

    def describe_outputs(self) -> str:
        """Return ``"[name [1,3549,85] float32, ...]"`` for error messages."""
        return "[" + ", ".join(str(o) for o in self.outputs) + "]"


def check_file(path: str | Path) -> Path:
    """Return ``path`` as a Path after checking that it is an existing regular file.

    Raises
    ------
    ModelError
        If it does not exist or is a directory.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"model {path}: is a directory, expected an .onnx file")
    if not path.is_file():
        raise ModelError(f"model {path}: file not found")
    return path


def _tensor_info(value: onnx.ValueInfoProto) -> TensorInfo:
    tensor = value.type.tensor_type
    shape: tuple[Dim, ...] = tuple(
        d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
        for d in tensor.shape.dim
    )
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
    except (KeyError, TypeError, ValueError):
        dtype = f"onnx-type-{tensor.elem_type}"
    return TensorInfo(value.name, shape, dtype)


def read_graph(path: str | Path) -> GraphInfo:
    """Read a model's inputs, outputs and metadata.

    Parameters
    ----------
    path : str or Path
        An ``.onnx`` file (external weight files are not needed or read).

    Returns
    -------
    GraphInfo

    Raises
    ------
    ModelError
        If the file is missing, a directory, or not an ONNX model.
    """
    path = check_file(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, RuntimeWarning, ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"model {path}: not an ONNX model ({type(exc).__name__}: {exc})") from exc
    except OSError as exc:
        raise ModelError(f"model {path}: cannot read ({exc.strerror or exc})") from exc
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    inputs = tuple(_tensor_info(v) for v in graph.input if v.name not in weights)
    outputs = tuple(_tensor_info(v) for v in graph.output)
    # Arbitrary bytes often parse as a protobuf with unknown fields; a real model has
    # an opset and at least one input and output.
    if not model.opset_import or not inputs or not outputs:
        raise ModelError(
            f"model {path}: not an ONNX model (no graph inputs/outputs or opset found)"
        )
    metadata = {p.key: p.value for p in model.metadata_props}
    return GraphInfo(path, inputs, outputs, metadata)


def file_sha256(path: str | Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
