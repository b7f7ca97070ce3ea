"""streamer: real-time video stream processing.

Source -> frames -> Numba kernels -> ONNX detector -> overlay -> sinks, each stage in its
own thread behind a bounded queue. The command line (:mod:`streamer.cli`) is a thin layer
over :class:`Runner`; :func:`stream` runs the same pipeline as a Python loop::

    import streamer

    for r in streamer.stream("street.mp4", classes=["person", "car"]):
        print(r.index, r.time, len(r.detections), r.detections.class_name)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamer.errors import (
    ConfigError,
    DeviceError,
    KernelError,
    ModelError,
    PipelineError,
    SinkError,
    SourceError,
    StreamerError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError", "DeviceError", "KernelError", "ModelError", "PipelineError", "SinkError",
    "SourceError", "StreamerError", "RunSettings", "Runner", "RunSummary", "load_config",
    "stream", "Stream", "Result", "Detections",
]

if TYPE_CHECKING:
    from streamer.api import Result, Stream, stream
    from streamer.config import RunSettings, load_config
    from streamer.detection.detections import Detections
    from streamer.runner import Runner, RunSummary


def __getattr__(name: str) -> Any:
    # Lazy, so `import streamer.kernels` (and `streamer info`) stay cheap: the runner pulls
    # in ONNX Runtime and Numba (`import streamer` measured 0.8 ms with these lazy, as before
    # stream() was added; importing streamer.api takes ~0.6 s on 2 cores).
    if name in {"stream", "Stream", "Result"}:
        from streamer import api

        return getattr(api, name)
    if name == "Detections":
        from streamer.detection.detections import Detections

        return Detections
    if name in {"RunSettings", "load_config"}:
        from streamer import config

        return getattr(config, name)
    if name in {"Runner", "RunSummary"}:
        from streamer import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'streamer' has no attribute {name!r}")
