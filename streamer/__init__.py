"""streamer: real-time video stream processing.

Source -> frames -> Numba kernels -> ONNX detector -> overlay -> sinks, each stage in its
own thread behind a bounded queue. The command line (:mod:`streamer.cli`) is a thin layer
over :class:`Runner`.
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
]

if TYPE_CHECKING:
    from streamer.config import RunSettings, load_config
    from streamer.runner import Runner, RunSummary


def __getattr__(name: str) -> Any:
    # Lazy, so `import streamer.kernels` (and `streamer info`) stay cheap: the runner pulls
    # in ONNX Runtime and Numba.
    if name in {"RunSettings", "load_config"}:
        from streamer import config

        return getattr(config, name)
    if name in {"Runner", "RunSummary"}:
        from streamer import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'streamer' has no attribute {name!r}")
