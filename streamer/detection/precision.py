"""``--precision auto|fp32|int8``: which file of a bundled model runs, and why.

A bundled model may ship an INT8 variant beside its FP32 file
(:data:`~streamer.detection.bundled.INT8_VARIANTS`, made
by ``scripts/quantize_int8.py``, which writes one only where it is at least 1.3x faster at
the accuracy of :mod:`streamer.detection.agreement`).  ``auto`` (the default) runs:

* FP32 on a GPU: ONNX Runtime's CUDA provider has no INT8 convolutions (its FAQ: the CUDA
  build implements QuantizeLinear, DequantizeLinear and MatMulInteger), so a QDQ graph runs
  its convolutions in float behind extra dequantize steps.  Not measured here (no GPU on
  this project's machine); TensorRT can run QDQ graphs in INT8 (explicit quantization):
  ask for it with ``--device tensorrt --precision int8``;
* on a CPU, whichever is faster *on this machine*, from a measurement cached per machine
  (CPU model and instruction sets, ONNX Runtime version, both files' digests) in
  ``$STREAMER_CACHE_DIR`` or ``~/.cache/streamer/precision.json``.  INT8's gain depends on
  the CPU's integer dot-product instructions (AVX-512 VNNI here: NanoDet-g 2.6x; an older
  CPU may gain little or lose), so it is measured rather than assumed; the first run on a
  machine measures (about 0.4 s: both sessions opened, a few inferences each, timed in
  CPU time of this thread so other processes' load does not count), later runs read the
  cache.

A model given as a file runs as it is: ``auto`` reports what it is (a graph with
``QuantizeLinear`` nodes is INT8), and an explicit precision that contradicts the file is
an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from streamer.detection.bundled import (
    BUNDLED,
    DEFAULT_MODEL,
    INT8_VARIANTS,
    models_dir,
    resolve_model,
)
from streamer.errors import ConfigError

log = logging.getLogger("streamer")

Precision = Literal["auto", "fp32", "int8"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "int8")

#: Timed inferences per model in the measurement (after one untimed): the minimum of 3
#: CPU times is stable to a few percent, and keeps the first run's cost near 0.4 s.
_RUNS = 3
_lock = threading.Lock()
_memo: dict[str, tuple[float, float, str]] = {}


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a detector runs at, and why (said at start-up).

    Attributes
    ----------
    precision : {"fp32", "int8"}
    reason : str
        One line, e.g. ``"requested"`` or ``"2.6x faster than fp32 on this CPU (...)"``.
    """

    precision: str
    reason: str

    def __str__(self) -> str:
        return f"{self.precision} ({self.reason})"


def cache_file() -> Path:
    """Where measured choices are kept: ``$STREAMER_CACHE_DIR/precision.json``, else
    ``$XDG_CACHE_HOME/streamer/`` or ``~/.cache/streamer/``."""
    folder = os.environ.get("STREAMER_CACHE_DIR")
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = str(Path(base) / "streamer")
    return Path(folder) / "precision.json"


def _cpu_identity() -> str:
    """CPU model and instruction-set flags (what INT8 speed depends on), hashed."""
    text = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            lines = [line for line in f if line.startswith(("model name", "flags", "Features"))]
        text += "".join(dict.fromkeys(lines))
    except OSError:
        pass
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_quantized(path: Path) -> bool:
    """True when the ONNX graph holds quantization nodes (QDQ or QLinear* operators);
    False for a file that is not a model (the detector then says what is wrong with it)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends: reported by the loader
        return False
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") or n.op_type.startswith("QLinear")
               for n in model.graph.node)


def _time_model(path: Path) -> float:
    """Smallest CPU time in ms of one inference on one thread (zeros in; speed does not
    depend on the picture)."""
    from streamer.detection.session import create_session

    session, _ = create_session(path, device="cpu", threads=1)
    tensor = session.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in tensor.shape]
    feed = {tensor.name: np.zeros(shape, np.float32)}
    session.run(None, feed)
    times = []
    for _ in range(_RUNS):
        start = time.thread_time()
        session.run(None, feed)
        times.append(time.thread_time() - start)
    return 1000 * min(times)


def _measured(fp32: Path, int8: Path) -> tuple[float, float, str]:
    """(fp32 ms, int8 ms, where the figures come from), from the cache or measured now."""
    import onnxruntime as ort

    from streamer.detection.card import find_card

    digests = [getattr(find_card(p), "sha256", p.name) for p in (fp32, int8)]
    key = "-".join([_cpu_identity(), f"ort{ort.__version__}", *(d[:16] for d in digests)])
    with _lock:
        if key in _memo:
            return _memo[key]
        path = cache_file()
        try:
            cache = json.loads(path.read_text())
        except (OSError, ValueError):
            cache = {}
        cache = cache if isinstance(cache, dict) else {}
        entry = cache.get(key)
        try:
            found = (float(entry["fp32_ms"]), float(entry["int8_ms"]),
                     f"measured {entry['date']}, cached in {path}")
        except (KeyError, TypeError, ValueError):
            start = time.perf_counter()
            fp32_ms, int8_ms = _time_model(fp32), _time_model(int8)
            log.debug("precision measured in %.2f s", time.perf_counter() - start)
            cache[key] = {"fp32_ms": round(fp32_ms, 2), "int8_ms": round(int8_ms, 2),
                          "date": time.strftime("%Y-%m-%d")}
            found = (fp32_ms, int8_ms, "measured now")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
                os.replace(tmp, path)
                found = (fp32_ms, int8_ms, f"measured now, cached in {path}")
            except OSError as exc:  # a read-only home: measure again next time
                log.debug("precision cache %s not written: %s", path, exc)
        _memo[key] = found
        return found


def _bundled_name(model: str | Path | None) -> str | None:
    name = DEFAULT_MODEL if model is None else str(model)
    return name if name in BUNDLED else None


def choose_model(model: str | Path | None, precision: str, device: str) -> tuple[Path, PrecisionChoice]:
    """The file to run for ``model`` at ``precision`` on ``device``.

    Parameters
    ----------
    model : str or Path or None
        As for :func:`~streamer.detection.bundled.resolve_model`.
    precision : {"auto", "fp32", "int8"}
    device : {"auto", "cpu", "cuda", "tensorrt"}
        Where the detector will run (``auto`` with a usable GPU counts as a GPU).

    Returns
    -------
    path : Path
    choice : PrecisionChoice

    Raises
    ------
    ConfigError
        If ``precision`` is unknown, ``int8`` is asked of a bundled model without an INT8
        variant, or an explicit precision contradicts a model file.
    ModelError
        As :func:`~streamer.detection.bundled.resolve_model`.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    path = resolve_model(model)
    name = _bundled_name(model)
    with_int8 = ", ".join(INT8_VARIANTS) or "none"
    if name is None:
        if not path.is_file():
            return path, PrecisionChoice("fp32", "the file given")  # the detector reports it missing
        kind = "int8" if is_quantized(path) else "fp32"
        if precision not in ("auto", kind):
            raise ConfigError(f"precision {precision}: {path} is an {kind.upper()} model file; a file runs as it "
                              f"is (bundled models with an INT8 variant: {with_int8})")
        return path, PrecisionChoice(kind, "the file given")
    variant = INT8_VARIANTS.get(name)
    if variant is None:
        if precision == "int8":
            raise ConfigError(f"precision int8: {name} has no INT8 variant (bundled models with one: {with_int8}; "
                              "see models/README.md)")
        return path, PrecisionChoice("fp32", "requested" if precision == "fp32" else f"{name} has no INT8 variant")
    int8 = models_dir() / variant
    if precision == "fp32" or (precision == "int8" and int8.is_file()):
        return (int8 if precision == "int8" else path), PrecisionChoice(precision, "requested")
    if not int8.is_file():
        if precision == "int8":
            raise ConfigError(f"precision int8: {name}'s INT8 file {int8} is missing; reinstall streamer")
        return path, PrecisionChoice("fp32", f"{name}'s INT8 file is not installed")
    from streamer.detection.session import gpu_unusable_reason

    if device in ("cuda", "tensorrt") or (device == "auto" and gpu_unusable_reason() is None):
        return path, PrecisionChoice("fp32", "on a GPU: ONNX Runtime's CUDA provider has no INT8 "
                                               "convolutions")
    fp32_ms, int8_ms, source = _measured(path, int8)
    if int8_ms < fp32_ms:
        return int8, PrecisionChoice("int8", f"{fp32_ms / int8_ms:.1f}x faster than fp32 on this CPU: "
                                             f"{int8_ms:.1f} vs {fp32_ms:.1f} ms, {source}")
    return path, PrecisionChoice("fp32", f"int8 is not faster on this CPU: {int8_ms:.1f} vs {fp32_ms:.1f} ms, "
                                         f"{source}")
