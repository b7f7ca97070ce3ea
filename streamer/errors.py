"""One exception tree for the whole product.

Third-party errors (PyAV, ONNX Runtime, YAML, pydantic) are translated into these at
the boundary where they happen, so callers and the CLI only ever handle
:class:`StreamerError` and can print a one-line message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class StreamerError(Exception):
    """Base class of every error this package raises on purpose."""


class SourceError(StreamerError):
    """A source could not be opened, probed or decoded (missing, empty, corrupt, unsupported)."""


class ModelError(StreamerError):
    """A model file is missing, is not ONNX, or has a layout no decoder supports."""


class DeviceError(StreamerError):
    """The requested execution device (e.g. CUDA) is not usable."""


class ConfigError(StreamerError):
    """An option or configuration file is invalid."""


class KernelError(StreamerError):
    """Invalid settings for an image-processing step."""


class SinkError(StreamerError):
    """An output could not be opened or written."""


class PipelineError(StreamerError):
    """A pipeline worker failed; ``__cause__`` holds the original exception."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        self.stage = stage
        super().__init__(f"stage {stage!r} failed: {cause}")
        self.__cause__ = cause


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'conf'?)"`` for the closest of ``choices``, or ``""`` when none is close.

    >>> did_you_mean("confidence", ["conf", "iou", "classes"])
    " (did you mean 'conf'?)"
    """
    options = {str(c).lower(): str(c) for c in choices}
    low = str(word).lower()
    match = difflib.get_close_matches(low, list(options), n=1, cutoff=0.6)
    # A shortened or lengthened name ("confidence" for "conf") is a likely slip too.
    match = match or [o for o in options if len(o) >= 3 and (low.startswith(o) or o.startswith(low))][:1]
    return f" (did you mean {options[match[0]]!r}?)" if match else ""
