"""Run settings: one validated model shared by the CLI options and ``--config FILE`` (YAML).

Unknown keys are errors; a validation error names the key and, for a file, its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from streamer.analytics.config import LineConfig, MaskConfig, ZoneConfig
from streamer.errors import ConfigError, did_you_mean
from streamer.events.config import EventsConfig, events_setting
from streamer.kernel_chain import KernelStep, KernelStepError, parse_kernels
from streamer.notify.config import NotifyConfig
from streamer.outputs.config import OutputConfig, parse_bitrate
from streamer.privacy.config import PrivacyConfig
from streamer.sources.urls import is_live, output_stem
from streamer.units import duration, parse_seconds  # noqa: F401 - parse_seconds: part of this module's API

Device = Literal["auto", "cpu", "cuda", "tensorrt"]
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


class _StepValueError(ValueError):
    """A bad kernel step, with its index, so a config error can name the step's own line."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


# A config is a few dozen lines: refusing big files and alias bombs early keeps a bad file
# from costing minutes and gigabytes (seen: a 424-byte file of nine levels of anchors took
# 66 s and 2.9 GB before its error; a 33 MB file 212 s and 4.3 GB).
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_VALUES = 100_000
#: Settings of the one server of a run (``--serve``): top level only, never per camera.
SERVER_KEYS = frozenset({"serve", "token", "max_viewers"})


class RunSettings(BaseModel):
    """Everything ``streamer run`` accepts; field names are the YAML keys.

    CLI options map one to one (``--detect-every`` is ``detect_every``).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    source: str | None = Field(None, description="input file")
    model: Path | None = Field(None, description="ONNX detector file or bundled model name (yolox-nano, nanodet-g); None uses the bundled default, yolox-nano")
    conf: float = Field(0.35, ge=0.0, le=1.0, description="minimum detection score")
    iou: float = Field(0.45, ge=0.0, le=1.0, description="IoU threshold of class-aware NMS")
    classes: list[str] | None = Field(None, description="keep only these class names (or ids)")
    detect: bool = Field(True, description="run the detector at all")
    detect_every: int = Field(1, ge=1, description="run the detector on every N-th frame")
    detect_min_motion: float | None = Field(
        None, ge=0.0, le=1.0,
        description="skip the detector while the motion step's score (moving fraction of the frame) is below this")
    device: Device = "auto"
    precision: Literal["auto", "fp32", "int8"] = Field(
        "auto", description="detector precision: int8 runs a bundled model's INT8 variant (nanodet-g); auto: the "
        "faster of the two on this CPU (measured once, cached), fp32 on a GPU")
    detect_size: int | None = Field(
        None, ge=32, le=4096,
        description="detector input size in pixels, e.g. 320 (fewer pixels: faster, small objects lost); "
        "None: the model's own (416)")
    threads: int | None = Field(None, ge=1, le=64, description="ONNX Runtime threads per detector (default: cores / workers)")
    detect_workers: int | None = Field(None, ge=1, le=16, description="detectors working on successive frames in parallel (default: 2 on a CPU with 2+ cores, 1 on a GPU)")
    detect_every_max: int = Field(8, ge=1, le=1000, description="largest detection interval a live camera falls back to when the shared detector cannot keep up")
    detect_batch: int | None = Field(None, ge=1, le=64, description="most frames per inference in the shared detector (default: 1 on a CPU, 8 on a GPU)")
    priority: float = Field(1.0, gt=0.0, le=1000.0, description="this camera's weight in the shared detector's turns (2: twice the detections of a camera with 1)")
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
    # -- live sources ---------------------------------------------------------------
    name: str | None = Field(None, description="camera name for outputs and logs (default: from the source)")
    out_dir: Path | None = Field(None, description="folder for outputs of live or several sources (default: current folder)")
    transport: Literal["tcp", "udp"] = "tcp"
    open_timeout: float = Field(10.0, gt=0.0, le=600.0)
    stall_timeout: float = Field(5.0, gt=0.0, le=600.0, description="no frame for this long -> reconnect")
    retries: int | None = Field(None, ge=0, description="failed attempts in a row before giving up (default: for ever)")
    max_latency: float | None = Field(None, gt=0.0, description="latency budget in seconds: older frames are dropped")
    realtime: bool = Field(False, description="play a file at its own pace, as if live")
    input_format: str | None = Field(None, description="force an FFmpeg demuxer (e.g. mpjpeg, v4l2)")
    video_size: str | None = Field(None, pattern=r"^\d+x\d+$", description="webcam size, e.g. 1280x720")
    fps: float | None = Field(None, gt=0.0, description="webcam frame rate")
    pixel_format: str | None = Field(None, description="webcam pixel format (V4L2 input_format, e.g. mjpeg, yuyv422)")
    stats_interval: float = Field(10.0, gt=0.0, description="seconds between stats records in the JSONL (live)")
    # -- tracking, zones, lines -------------------------------------------------------
    track: bool | None = Field(
        None, description="give each object an id across frames (default: on when zones or lines are set)")
    track_lost: float = Field(2.0, gt=0.0, le=3600.0, description="seconds a lost track is kept to be found again")
    zones: list[ZoneConfig] = Field(default_factory=list, description="polygons: occupancy, entries, exits, dwell")
    lines: list[LineConfig] = Field(default_factory=list, description="lines: crossings per direction and class")
    masks: list[MaskConfig] = Field(default_factory=list, description="polygons where detections are ignored")
    trails: bool = Field(True, description="draw a short trail behind each tracked object")
    events: EventsConfig | None = Field(
        None, description="events file, snapshots and clips (true: the defaults; see streamer.events.config)")
    notify: list[NotifyConfig] = Field(
        default_factory=list, description="where event records go: webhooks and MQTT brokers (see streamer.notify.config)")
    privacy: PrivacyConfig | None = Field(
        None, description="hide faces (and persons) before any output (true: the defaults; see streamer.privacy.config)")
    # -- watching it live (top level only, except show) --------------------------------------
    serve: str | None = Field(None, description="[HOST:]PORT of the built-in HTTP server (host 127.0.0.1 unless given)")
    token: SecretStr | None = Field(None, description="token every route of --serve but /healthz needs")
    max_viewers: int = Field(20, ge=1, le=1000, description="concurrent MJPEG viewers per camera (more get a 503)")
    show: bool = Field(False, description="show the camera in a local window (OpenCV highgui)")
    # -- network outputs: one live encode per camera and settings, published many times ----
    publish: list[str] = Field(default_factory=list, description="push the annotated stream to these rtsp://, rtmp://, udp:// or srt:// URLs")
    hls: Path | None = Field(None, description="write a live HLS playlist (index.m3u8) and segments into this folder")
    bitrate: str = Field("2M", description="bitrate of the live encoder of --publish and --hls (e.g. 2M, 800k)")
    gop: float = Field(1.0, gt=0.0, le=60.0, description="seconds between key frames of the live encoder (viewers join at one)")
    outputs: list[OutputConfig] = Field(
        default_factory=list, description="more network outputs, each with its own settings: {publish: URL, bitrate: 4M, gop: 2} or {hls: DIR}")
    # -- where the cameras run (top level; ray_cpus per camera) ----------------------------------
    engine: Literal["local", "ray"] = Field(
        "local", description='local: in this process; ray: one Ray actor per camera or file (pip install "streamer[ray]")')
    ray_address: str | None = Field(
        None, description="Ray cluster for --engine ray: auto, HOST:PORT or ray://HOST:10001 (default: RAY_ADDRESS, else a cluster started for the run)")
    ray_cpus: float = Field(1.0, gt=0.0, le=1024.0, description="CPUs each camera's Ray actor reserves (--engine ray)")
    ray_detectors: Literal["auto", "node", "camera"] = Field(
        "auto", description="where Ray cameras' detectors run: node: one actor per node batching its cameras; "
                            "camera: in each camera's actor; auto: node on nodes with a GPU, camera elsewhere")
    fleet_stats: Path | None = Field(
        None, description="one JSONL of every camera's stats records, written by the driver (top level; also with --engine ray)")
    cameras: dict[str, dict[str, Any]] | None = Field(
        None, description="named cameras: per-camera settings over the top-level ones")
    # "file:line" of each key read from a config file (cameras' keys as "cameras.NAME.key"),
    # so errors found later (e.g. a class name the model does not know) point at the line.
    _where: dict[str, str] = PrivateAttr(default_factory=dict)

    def located(self, error: ConfigError) -> ConfigError:
        """``error`` prefixed with the file and line of the key it names (``"classes: ..."``)."""
        key = str(error).split(":", 1)[0]
        where = self._where.get(f"cameras.{self.name}.{key}") or self._where.get(key)
        return ConfigError(f"{where}: {error}") if where else error

    @field_validator("max_latency", "track_lost", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        return duration(v)

    @field_validator("serve", mode="before")
    @classmethod
    def _serve(cls, v: Any) -> Any:
        if v is None:
            return v
        from streamer.server.address import parse_address

        try:
            parse_address(str(v))
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix(f"--serve {str(v).strip()}: ")) from None
        return str(v)

    @field_validator("events", mode="before")
    @classmethod
    def _events(cls, v: Any) -> Any:
        return events_setting(v)

    @field_validator("privacy", mode="before")
    @classmethod
    def _privacy(cls, v: Any) -> Any:
        """``privacy: true`` -> the defaults (faces blurred), ``false``/``null`` -> off."""
        return PrivacyConfig() if v is True else (None if v is False else v)

    @property
    def tracking(self) -> bool:
        """Whether objects are tracked: as set, else whenever zones, lines or events need ids."""
        return self.track if self.track is not None else bool(self.zones or self.lines or self.events)

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
        except KernelStepError as exc:
            raise _StepValueError(str(exc), exc.index) from None
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("bitrate")
    @classmethod
    def _bitrate(cls, v: str) -> str:
        parse_bitrate(v)
        return v

    @field_validator("publish", mode="before")
    @classmethod
    def _one_or_more(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("preset")
    @classmethod
    def _preset(cls, v: str) -> str:
        if v not in X264_PRESETS:
            raise ValueError(f"unknown x264 preset {v!r} (one of {', '.join(X264_PRESETS)})")
        return v

    @model_validator(mode="after")
    def _shapes_need_the_detector(self) -> RunSettings:
        if not self.detect and (self.zones or self.lines or self.masks or self.track):
            raise ValueError("zones, lines, masks and tracking need the detector (drop --no-detect / detect: false)")
        return self

    @model_validator(mode="after")
    def _motion_gate_needs_motion(self) -> RunSettings:
        if self.detect_min_motion is not None and not any(k.kind == "motion" for k in self.kernels):
            raise ValueError("detect_min_motion needs a motion step in kernels (e.g. --kernels motion=background)")
        return self

    def outputs_for(self, source: str) -> tuple[Path | None, Path]:
        """(video path or None, jsonl path).

        A file's outputs go beside it (``clip.annotated.mp4``, ``clip.detections.jsonl``);
        a live source's, and any source's with ``out_dir``, into that folder (default:
        the current one), named after the camera. With ``out`` set, the JSONL is named
        after it, beside it (``k/a.mp4`` and ``k/a.annotated.mp4`` both give
        ``k/a.detections.jsonl``), so two runs with different ``out`` never share a JSONL.
        ``jsonl`` overrides the JSONL path. Whether the paths may be written is checked by
        :func:`streamer.outputs.paths.check_outputs`.
        """
        folder, stem = self._folder_and_stem(source)
        video = None if self.no_video else (self.out or folder / f"{stem}.annotated.mp4")
        return video, self.jsonl or folder / f"{stem}.detections.jsonl"

    def _folder_and_stem(self, source: str) -> tuple[Path, str]:
        """Where a source's outputs go and the stem of their names (see :meth:`outputs_for`)."""
        stem = self.name or output_stem(source)
        if self.out is not None:
            return self.out.parent, self.out.stem.removesuffix(".annotated") or stem
        if self.out_dir is not None:
            return self.out_dir, stem
        return (Path(".") if is_live(source) else Path(source).parent), stem

    def events_for(self, source: str) -> tuple[Path, Path] | None:
        """(events JSONL, folder of snapshots and clips), or None when events are off.

        Beside the other outputs, named alike: ``clip.events.jsonl`` and ``clip.events/``;
        with ``events.dir`` the folder is ``DIR/NAME/`` (several cameras may share ``DIR``).
        """
        if self.events is None:
            return None
        folder, stem = self._folder_and_stem(source)
        media = self.events.dir / stem if self.events.dir is not None else folder / f"{stem}.events"
        return folder / f"{stem}.events.jsonl", media

    def device_options(self) -> dict[str, str]:
        """FFmpeg options for a V4L2 webcam."""
        opts = {"video_size": self.video_size, "framerate": None if self.fps is None else f"{self.fps:g}",
                "input_format": self.pixel_format}
        return {k: v for k, v in opts.items() if v is not None}

    def per_camera(self) -> list[RunSettings]:
        """One settings object per camera: ``cameras`` entries over the top-level values."""
        if not self.cameras:
            return [self]
        base = self.model_dump(exclude={"cameras"}, exclude_unset=True)
        base.pop("source", None)
        out = []
        for name, overrides in self.cameras.items():
            if not isinstance(overrides, dict):
                raise ConfigError(f"cameras.{name}: expected a mapping of settings, got {type(overrides).__name__}")
            if "cameras" in overrides:
                raise ConfigError(f"cameras.{name}: cameras cannot be nested")
            clash = sorted(SERVER_KEYS & set(overrides))
            if clash:
                raise ConfigError(f"cameras.{name}.{clash[0]}: set {clash[0]} at the top level (one server for every camera)")
            merged = {**base, "name": name, **overrides}
            try:
                out.append(RunSettings(**merged))
            except ValidationError as exc:
                raise ConfigError(_format_errors(exc, origin="config", prefix=f"cameras.{name}.")) from None
            out[-1]._where = self._where
            if out[-1].source is None:
                raise ConfigError(f"cameras.{name}: no source")
        return out


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


def _format_errors(exc: ValidationError, *, origin: str, root: yaml.Node | None = None, prefix: str = "") -> str:
    msgs = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in {"function-after", "function-before"}))
        key = prefix + _loc_text(loc[:1] + tuple(p for p in loc[1:] if isinstance(p, int))) if loc else prefix.rstrip(".")
        path = (tuple(prefix.strip(".").split(".")) if prefix else ()) + tuple(loc)  # the deepest line known
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _StepValueError):
            path += (cause.index,)  # the step's own line, not the "kernels:" line
        line = _line_of(root, path) if root is not None else None
        where = f"{origin}:{line}" if line else origin
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":  # the line is the block's: name the field (zones.0.polygon)
            key = prefix + _loc_text(loc)
        if err["type"] == "extra_forbidden":
            if len(loc) > 1:  # inside a block (events.retain.bogus): name the whole path
                key = prefix + _loc_text(loc)
                fields = getattr(RunSettings.model_fields.get(str(loc[0])), "annotation", None)
                msg = "unknown key" + did_you_mean(str(loc[-1]), _nested_fields(fields, loc[1:-1]))
            else:
                msg = "unknown key" + did_you_mean(str(loc[-1]), RunSettings.model_fields)
        msgs.append(f"{where}: {key}: {msg}" if key else f"{where}: {msg}")
    return "; ".join(msgs)


def _nested_fields(annotation: Any, path: tuple[Any, ...]) -> list[str]:
    """Field names of the pydantic model at ``path`` under a field's annotation (``[]`` when
    it is not a plain model, e.g. a list of them)."""
    import typing

    model = next((a for a in (annotation, *typing.get_args(annotation))
                  if isinstance(a, type) and issubclass(a, BaseModel)), None)
    for key in (k for k in path if not isinstance(k, int)):  # list items: the item's model
        field = model.model_fields.get(str(key)) if model is not None else None
        model = getattr(field, "annotation", None) if field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return list(model.model_fields) if model is not None else []


def _check_expansion(root: yaml.Node | None, path: Path) -> None:
    """Refuse YAML whose aliases expand to more than ``MAX_CONFIG_VALUES`` values, or loop.

    Aliases share nodes, so the composed graph stays small while the data it stands for
    grows exponentially; counting with memoisation costs one visit per distinct node.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(f"{path}:{node.start_mark.line + 1}: a YAML alias refers to itself")
        active.add(key)
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(v) for v in node.value)
        else:
            total = 1
        active.discard(key)
        sizes[key] = total
        if total > MAX_CONFIG_VALUES:
            raise ConfigError(f"{path}:{node.start_mark.line + 1}: YAML aliases expand to more than "
                              f"{MAX_CONFIG_VALUES} values (an alias bomb?)")
        return total

    if root is not None:
        size(root)


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
        if p.is_file() and p.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{p}: {p.stat().st_size} bytes is too big for a config file "
                              f"(at most {MAX_CONFIG_BYTES // 1024} KiB)")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read config ({exc})") from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            _check_expansion(root, p)
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, yaml.reader.ReaderError):  # a control character: no mark, two lines
            line = text.count("\n", 0, exc.position) + 1
            where, problem = f"{p}:{line}", str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the config must be a mapping of settings, got {type(data).__name__}")
    merged = {**data, **(overrides or {})}
    try:
        settings = RunSettings(**merged)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origin=str(p), root=root)) from None
    if settings.cameras:
        # Validate each camera now, so its errors name the file and line too.
        base = {k: v for k, v in merged.items() if k not in {"cameras", "source"}}
        for name, cam in settings.cameras.items():
            if not isinstance(cam, dict):
                raise ConfigError(f"{p}:{_line_of(root, ('cameras', name))}: cameras.{name}: expected a mapping of settings")
            try:
                RunSettings(**{**base, "name": name, **cam})
            except ValidationError as exc:
                raise ConfigError(_format_errors(exc, origin=str(p), root=root, prefix=f"cameras.{name}.")) from None
    settings._where = {key: f"{p}:{_line_of(root, tuple(key.split('.')))}" for key in _keys(data)}
    return settings


def _keys(data: dict[str, Any]) -> list[str]:
    """The top-level keys of a config and its cameras' keys (``cameras.NAME.key``)."""
    keys = [str(k) for k in data]
    for name, cam in (data.get("cameras") or {}).items():
        if isinstance(cam, dict):
            keys += [f"cameras.{name}.{k}" for k in cam]
    return keys
