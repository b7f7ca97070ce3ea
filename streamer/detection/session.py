"""ONNX Runtime session creation with an honest account of which device it got.

ONNX Runtime silently falls back to the CPU when an execution provider cannot load
(and prints C++ errors on stderr while doing so).  So before asking for CUDA we check
cheaply and quietly that it can work: the provider is compiled in, the NVIDIA driver
loads and reports a device, and ONNX Runtime's CUDA provider library loads with its
CUDA/cuDNN dependencies.  After creating the session, :meth:`get_providers` says what
it really runs on.
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from streamer.detection.graph import check_file
from streamer.errors import DeviceError, ModelError

Device = Literal["auto", "cpu", "cuda", "tensorrt"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "tensorrt")

_CPU = "CPUExecutionProvider"
_CUDA = "CUDAExecutionProvider"
_TENSORRT = "TensorrtExecutionProvider"
_LABEL = {_CUDA: "CUDA", _TENSORRT: "TensorRT"}
#: What ORT raises for unreadable, malformed or unsupported model files.
_ORT_LOAD_ERRORS = (
    ort_state.InvalidProtobuf, ort_state.NoSuchFile, ort_state.NoModel,
    ort_state.InvalidGraph, ort_state.NotImplemented, ort_state.InvalidArgument,
    ort_state.Fail, ort_state.RuntimeException,
)
#: ORT log severity 3 = errors only; warnings about e.g. initializers listed as graph
#: inputs (old exporters) are noise for a CLI user.
_QUIET = 3


@dataclass(frozen=True)
class ProviderChoice:
    """The execution provider a session runs on, and why that one.

    Attributes
    ----------
    provider : str
        ONNX Runtime provider name, e.g. ``"CPUExecutionProvider"``.
    reason : str
        One line: ``"requested"``, or why ``auto`` chose it (e.g. why not CUDA).
    """

    provider: str
    reason: str


def _driver_library() -> str | None:
    if sys.platform == "win32":
        return "nvcuda.dll"
    if sys.platform.startswith("linux"):
        return "libcuda.so.1"
    return None


def _provider_library_error(provider: str) -> str | None:
    """Try loading an ORT provider library the way ORT would; return the error text."""
    stem = {_CUDA: "cuda", _TENSORRT: "tensorrt"}[provider]
    suffix = ".dll" if sys.platform == "win32" else ".so"
    library = Path(ort.__file__).parent / "capi" / f"onnxruntime_providers_{stem}{suffix}"
    if sys.platform != "win32":
        library = library.with_name("lib" + library.name)
    try:
        # dlopen honours the library's RPATH, so this finds what ORT would find.
        ctypes.CDLL(str(library))
    except OSError as exc:
        return f"ONNX Runtime could not load {provider}: {exc}"
    return None


def gpu_unusable_reason(provider: str = _CUDA) -> str | None:
    """Return why ``provider`` (CUDA or TensorRT) cannot run here, or None if it looks usable.

    Parameters
    ----------
    provider : {"CUDAExecutionProvider", "TensorrtExecutionProvider"}

    Returns
    -------
    str or None
        One line, e.g. ``"CUDAExecutionProvider is in onnxruntime but no usable GPU:
        no NVIDIA driver (libcuda.so.1: cannot open shared object file...)"``.

    Notes
    -----
    Costs a few milliseconds and prints nothing: it loads the NVIDIA driver with ctypes
    and asks it for a device count, then loads ONNX Runtime's provider library (whose
    missing CUDA/cuDNN/TensorRT dependency is the usual failure).  Creating a session
    to find out instead would print C++ errors on stderr and fall back silently.
    """
    if provider not in ort.get_available_providers():
        return f"this onnxruntime build has no {provider}"
    no_gpu = f"{provider} is in onnxruntime but no usable GPU"
    name = _driver_library()
    if name is None:
        return f"{no_gpu}: CUDA does not exist on {sys.platform}"
    try:
        driver = ctypes.CDLL(name)
    except OSError as exc:
        return f"{no_gpu}: no NVIDIA driver ({exc})"
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return f"{no_gpu}: the NVIDIA driver failed to initialise (cuInit)"
    if count.value == 0:
        return f"{no_gpu}: the NVIDIA driver reports no CUDA device"
    # TensorRT's provider runs on top of CUDA's, so both libraries must load.
    for needed in dict.fromkeys((_CUDA, provider)):
        error = _provider_library_error(needed)
        if error is not None:
            return error
    return None


def _options(threads: int | None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads}")
        options.intra_op_num_threads = threads
    # Detectors are one chain of convolutions: parallel branches gain nothing and an
    # extra pool only competes with the pipeline's own threads.
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning intra-op threads keep burning CPU between frames (measured: ~48 ms of CPU
    # per 14 ms YOLOX frame at 2 threads with 20 ms gaps), starving the decode and encode
    # stages that share the cores; sleeping costs a little latency instead.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = _QUIET
    return options


def _open(path: Path, providers: list[str], threads: int | None, graph: bytes | None = None) -> ort.InferenceSession:
    """Create a session (on ``graph``, an edited copy of ``path``, when given), translating
    ORT's load failures into ModelError."""
    try:
        return ort.InferenceSession(graph if graph is not None else str(path), sess_options=_options(threads),
                                    providers=providers)
    except _ORT_LOAD_ERRORS as exc:
        # ORT messages span lines and repeat the path; the first line says what failed.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"model {path}: ONNX Runtime cannot load it ({first})") from exc


def open_like(graph: bytes, like: ort.InferenceSession, threads: int | None) -> ort.InferenceSession:
    """A session on an edited copy of a model (``graph``), on ``like``'s providers, with the
    same options as :func:`create_session` (e.g. :mod:`streamer.detection.batching`'s).

    Raises
    ------
    ModelError
        ONNX Runtime cannot load ``graph``.
    """
    try:
        return ort.InferenceSession(graph, sess_options=_options(threads), providers=like.get_providers())
    except _ORT_LOAD_ERRORS as exc:
        raise ModelError(f"edited model: ONNX Runtime cannot load it ({exc})") from exc


def create_session(
    path: str | Path, *, device: Device = "auto", threads: int | None = None, graph: bytes | None = None
) -> tuple[ort.InferenceSession, ProviderChoice]:
    """Open a model on the requested device.

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file.
    device : {"auto", "cpu", "cuda", "tensorrt"}
        ``auto`` uses CUDA when it is usable, else the CPU; ``cuda`` and ``tensorrt``
        fail rather than fall back.
    threads : int, optional
        Intra-op threads (ONNX Runtime's default, one per core, when None).
    graph : bytes, optional
        An edited copy of the model at ``path`` to open instead (``--detect-size``).

    Returns
    -------
    session : onnxruntime.InferenceSession
    choice : ProviderChoice
        The provider the session really got and why.

    Raises
    ------
    ModelError
        If the file is missing, a directory, or not loadable by ONNX Runtime.
    DeviceError
        If ``cuda``/``tensorrt`` was requested but is not usable.
    ValueError
        If ``device`` or ``threads`` is invalid.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    path = check_file(path)
    if device == "cpu":
        return _open(path, [_CPU], threads, graph), ProviderChoice(_CPU, "requested")

    wanted = _TENSORRT if device == "tensorrt" else _CUDA
    why_not = gpu_unusable_reason(wanted)
    if why_not is not None:
        if device == "auto":
            return _open(path, [_CPU], threads, graph), ProviderChoice(_CPU, why_not)
        raise DeviceError(f"{_LABEL[wanted]} requested but not usable: {why_not}")

    providers = [_TENSORRT, _CUDA, _CPU] if device == "tensorrt" else [_CUDA, _CPU]
    session = _open(path, providers, threads, graph)
    got = session.get_providers()[0]
    if got == wanted:
        reason = "requested" if device != "auto" else "CUDA device found"
        return session, ProviderChoice(got, reason)
    if device == "auto":
        return session, ProviderChoice(got, f"ONNX Runtime could not create {wanted}; fell back")
    raise DeviceError(
        f"{_LABEL[wanted]} requested but ONNX Runtime could not create {wanted} "
        f"(session got {session.get_providers()}); see onnxruntime's GPU requirements"
    )
