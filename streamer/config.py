"""Run settings: one validated model shared by the CLI options and ``--config FILE`` (YAML).

Unknown keys are errors; a validation error names the key and, for a file, its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from streamer.errors import ConfigError
from streamer.kernel_chain import KernelStep, parse_kernels

Device = Literal["auto", "cpu", "cuda", "tensorrt"]
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


class RunSettings(BaseModel):
    """Everything ``streamer run`` accepts; field names are the YAML keys.

    CLI options map one to one (``--detect-every`` is ``detect_every``).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    source: str | None = Field(None, description="input file")
    model: Path | None = Field(None, description="ONNX detector; None uses the bundled default")
    conf: float = Field(0.35, ge=0.0, le=1.0, description="minimum detection score")
    iou: float = Field(0.45, ge=0.0, le=1.0, description="IoU threshold of class-aware NMS")
    classes: list[str] | None = Field(None, description="keep only these class names (or ids)")
    detect: bool = Field(True, description="run the detector at all")
    detect_every: int = Field(1, ge=1, description="run the detector on every N-th frame")
    device: Device = "auto"
    threads: int | None = Field(None, ge=1, le=64, description="ONNX Runtime threads per detector (default: cores / workers)")
    detect_workers: int | None = Field(None, ge=1, le=16, description="detectors working on successive frames in parallel (default: 2 on a CPU with 2+ cores, 1 on a GPU)")
    kernels: list[KernelStep] = Field(default_factory=list)
    out: Path | None = Field(None, description="annotated video path (default <stem>.annotated.mp4)")
    jsonl: Path | None = Field(None, description="detections path (default <stem>.detections.jsonl)")
    no_video: bool = Field(False, description="skip the annotated video")
    hud: bool = True
    labels: bool = True
    crf: int = Field(23, ge=0, le=51)
    preset: str = "superfast"
    max_frames: int | None = Field(None, ge=1)
    duration: float | None = Field(None, gt=0.0)
    queue_size: int = Field(4, ge=1, le=256)
    progress: bool = True
    quiet: bool = False

    @field_validator("classes", mode="before")
    @classmethod
    def _split_classes(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [c.strip() for c in v.split(",") if c.strip()]
        if isinstance(v, list):
            return [str(c) for c in v]
        return v

    @field_validator("kernels", mode="before")
    @classmethod
    def _parse_kernels(cls, v: Any) -> Any:
        try:
            return parse_kernels(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("preset")
    @classmethod
    def _preset(cls, v: str) -> str:
        if v not in X264_PRESETS:
            raise ValueError(f"unknown x264 preset {v!r} (one of {', '.join(X264_PRESETS)})")
        return v

    def outputs_for(self, source: str) -> tuple[Path | None, Path]:
        """(video path or None, jsonl path).

        By default both go beside the source (``clip.annotated.mp4``,
        ``clip.detections.jsonl``); with ``out`` set, the JSONL goes beside ``out``.
        """
        src = Path(source)
        folder = self.out.parent if self.out is not None else src.parent
        video = None if self.no_video else (self.out or folder / f"{src.stem}.annotated.mp4")
        return video, self.jsonl or folder / f"{src.stem}.detections.jsonl"


def _loc_text(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Line (1-based) of the YAML node at ``loc`` or of its deepest existing parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(key)), None)
            keynode = next((k for k, v in node.value if k.value == str(key)), None)
            if match is None:
                return line
            line = keynode.start_mark.line + 1 if keynode is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _format_errors(exc: ValidationError, *, origin: str, root: yaml.Node | None = None) -> str:
    msgs = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in {"function-after", "function-before"}))
        key = _loc_text(loc[:1] + tuple(p for p in loc[1:] if isinstance(p, int))) if loc else "?"
        line = _line_of(root, loc[:1]) if root is not None else None
        where = f"{origin}:{line}" if line else origin
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        msgs.append(f"{where}: {key}: {msg}")
    return "; ".join(msgs)


def settings_from(values: dict[str, Any], *, origin: str = "options") -> RunSettings:
    """Validate a flat dict (CLI options) into :class:`RunSettings`."""
    try:
        return RunSettings(**values)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origin=origin)) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunSettings:
    """Read a YAML config and apply ``overrides`` (options given on the command line).

    Raises
    ------
    ConfigError
        Unreadable file, invalid YAML, unknown key or bad value, naming file, line and key.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read config ({exc})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the config must be a mapping of settings, got {type(data).__name__}")
    merged = {**data, **(overrides or {})}
    try:
        return RunSettings(**merged)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origin=str(p), root=root)) from None
