"""The detector stage: frame in, :class:`Detections` in source pixels out."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from streamer.config import RunSettings
from streamer.detection.card import InputSpec, ModelCard, resolve_card
from streamer.detection.detections import Detections
from streamer.detection.families import FAMILIES
from streamer.detection.nms import batched_nms
from streamer.detection.precision import PrecisionChoice, choose_model
from streamer.detection.resize import check_outputs, resized_card, resized_graph
from streamer.detection.session import DEVICES, Device, ProviderChoice, create_session
from streamer.errors import ConfigError, did_you_mean

# One set of defaults for the library, the CLI and YAML: RunSettings' fields (the CLI's
# options default to None and fall through to them).
_DEFAULTS = RunSettings.model_fields


class Transform(NamedTuple):
    """How model-input pixels map back to the frame (what :meth:`Detector.prepare` did).

    ``source_x = (model_x - pad_x) / scale_x``, likewise for y; ``width`` and
    ``height`` are the frame's size, used to clip boxes.
    """

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    width: int
    height: int


def prepare_input(spec: InputSpec, image: np.ndarray, out: np.ndarray) -> Transform:
    """Write a BGR frame into a model input as the card's ``input`` says (resize, letterbox,
    colour order, mean and std); what :meth:`Detector.prepare` does, without a session (a
    camera whose model runs elsewhere prepares its frames itself).

    Parameters
    ----------
    spec : InputSpec
        The model card's input.
    image : numpy.ndarray, shape (H, W, 3), uint8
        BGR frame.
    out : numpy.ndarray, shape (1, 3, spec.height, spec.width), float32
        Written in place.

    Returns
    -------
    Transform
        Mapping from model-input pixels back to ``image``.
    """
    from streamer.kernels import preprocess  # loads Numba: only once a detector prepares a frame

    scale_x, scale_y, pad_x, pad_y = preprocess(
        np.ascontiguousarray(image),
        out,
        resize=spec.resize,
        align=spec.letterbox_align,
        pad_value=spec.pad_value,
        swap_rb=spec.color == "rgb",
        mean=spec.mean,
        std=spec.std,
    )
    return Transform(scale_x, scale_y, pad_x, pad_y, image.shape[1], image.shape[0])


def _unit_interval(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be in [0, 1], got {value}")
    return float(value)


def _class_ids(classes: Sequence[str | int] | None, labels: Sequence[str]) -> np.ndarray | None:
    """Resolve a class filter given as names (case-insensitive) or ids to sorted ids."""
    if classes is None:
        return None
    if isinstance(classes, (str, int)):
        classes = [classes]
    by_name = {label.lower(): i for i, label in enumerate(labels)}
    ids = set()
    for item in classes:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= item < len(labels):
                raise ConfigError(
                    f"classes: class id {item} out of range: the model has {len(labels)} classes"
                )
            ids.add(int(item))
        elif isinstance(item, str) and item.strip().lower() in by_name:
            ids.add(by_name[item.strip().lower()])
        else:
            raise ConfigError(f"classes: unknown class {item!r}{did_you_mean(str(item), labels)}; "
                              f"valid names: {', '.join(labels)}")
    return np.array(sorted(ids), np.int32)


class Detector:
    """Object detector over an ONNX model, described by a card or recognised from its graph.

    Parameters
    ----------
    model : str or Path, optional
        An ``.onnx`` file or a bundled model's short name (``yolox-nano``, ``nanodet-g``;
        see :mod:`streamer.detection.bundled`); None uses the default, YOLOX-Nano.
    device : {"auto", "cpu", "cuda", "tensorrt"}
        Execution device, see :func:`streamer.detection.session.create_session`.
    conf : float
        Minimum score of a detection, in [0, 1]. The defaults of ``device``, ``conf``
        and ``iou`` are :class:`~streamer.config.RunSettings`' (those of the CLI and YAML).
    iou : float
        Class-aware NMS threshold, in [0, 1].
    classes : sequence of str or int, optional
        Keep only these classes: label names (case-insensitive) or class ids.
    threads : int, optional
        ONNX Runtime intra-op threads (one per core when None).
    max_det : int
        Most detections returned per frame (highest scores first).
    precision : {"auto", "fp32", "int8"}
        A bundled model's INT8 variant or its FP32 file; ``auto``: the faster on this
        CPU, FP32 on a GPU (see :mod:`streamer.detection.precision`). A file runs as it is.
    detect_size : int, optional
        Run the model at this input size (longer side, a multiple of its largest stride,
        e.g. 320) instead of its export's; YOLOX and NanoDet only
        (:mod:`streamer.detection.resize`).

    Attributes
    ----------
    path : Path
        The model file.
    card : ModelCard
        Its card, with ``outputs`` filled in.
    card_path : Path or None
        The card file, or None when the card was recognised from the graph.
    labels : tuple of str
        Class names indexed by ``Detections.class_id``.
    provider : ProviderChoice
        Execution provider the session really runs on, and why.
    precision : PrecisionChoice
        The precision that runs (``fp32`` or ``int8``), and why.
    input_size : tuple of int
        Model input (width, height) in pixels (``detect_size`` applied).
    graph : bytes or None
        The model as edited for ``detect_size`` (what the session runs), None when the
        file runs unchanged.

    Raises
    ------
    ModelError
        If the model is missing, not ONNX, unsupported or disagrees with its card, or
        is neither a file nor a bundled name.
    DeviceError
        If ``device`` is ``cuda``/``tensorrt`` and not usable.
    ConfigError
        If an option or the card is invalid.

    Notes
    -----
    Thread-confined: the input buffer is reused across frames, so a detector must be
    used from one thread (the first one to call :meth:`detect`, :meth:`prepare` or
    :meth:`warmup`).  Create one detector per thread that detects.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        device: Device = _DEFAULTS["device"].default,
        conf: float = _DEFAULTS["conf"].default,
        iou: float = _DEFAULTS["iou"].default,
        classes: Sequence[str | int] | None = None,
        threads: int | None = None,
        max_det: int = 300,
        precision: str = _DEFAULTS["precision"].default,
        detect_size: int | None = _DEFAULTS["detect_size"].default,
    ) -> None:
        self.conf = _unit_interval("conf", conf)
        self.iou = _unit_interval("iou", iou)
        if max_det < 1:
            raise ConfigError(f"max_det must be >= 1, got {max_det}")
        # create_session raises ValueError for these (a programming error there); here
        # they are user options.
        if device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}")
        self.max_det = int(max_det)
        self.precision: PrecisionChoice
        self.path, self.precision = choose_model(model, precision, device)
        self.card: ModelCard
        self.card, self.card_path = resolve_card(self.path)
        self.labels: tuple[str, ...] = self.card.labels
        self._class_ids = _class_ids(classes, self.labels)
        self._family = FAMILIES[self.card.family]
        self._output_names = self._family.output_names(self.card.outputs)  # type: ignore[arg-type]
        # --detect-size: the graph declared for the new size (edited in memory), the card's
        # input size with it so the letterbox and the decoder's grids follow.
        self.graph: bytes | None = None
        if detect_size is not None and detect_size != max(self.card.input.width, self.card.input.height):
            self.card = resized_card(self.card, detect_size)
            self.graph = resized_graph(self.path, self.card)
        self.provider: ProviderChoice
        self._session, self.provider = create_session(self.path, device=device, threads=threads, graph=self.graph)
        if self.graph is not None:
            check_outputs(self._session, self.card, self._output_names)
        spec = self.card.input
        self.input_size: tuple[int, int] = (spec.width, spec.height)
        # Reused for every frame: preprocess writes in place, ORT reads it directly.
        self._input = np.zeros((1, 3, spec.height, spec.width), np.float32)
        self._owner: int | None = None

    @classmethod
    def from_settings(cls, settings: RunSettings, *, threads: int | None = None) -> Detector:
        """The detector a camera's settings describe (model, device, conf, iou, classes).

        Raises
        ------
        ModelError, DeviceError, ConfigError
            As the constructor.
        """
        return cls(settings.model, device=settings.device, conf=settings.conf, iou=settings.iou,
                   classes=settings.classes, threads=threads, precision=settings.precision,
                   detect_size=settings.detect_size)

    @property
    def model_io(self) -> tuple[Any, np.ndarray, list[str]]:
        """(ONNX Runtime session, the input :meth:`prepare` writes, shape (1, 3, H, W)
        float32, the output names :meth:`decode` needs), for code that runs the model
        itself (the batching :mod:`streamer.detection.service`)."""
        return self._session, self._input, list(self._output_names)

    def __repr__(self) -> str:
        return (
            f"Detector({self.path.name!r}, family={self.card.family!r}, "
            f"input={self.input_size[0]}x{self.input_size[1]}, "
            f"provider={self.provider.provider!r}, conf={self.conf}, iou={self.iou})"
        )

    def release(self) -> None:
        """Let another thread take this detector over: the thread using it calls this when it
        is done with it (a stage's worker handing it back to the stage's pool)."""
        self._owner = None

    def _confine(self) -> None:
        current = threading.get_ident()
        if self._owner is None:
            self._owner = current
        elif self._owner != current:
            raise RuntimeError(
                "Detector is confined to the thread that first used it; create one per thread"
            )

    def prepare(self, image: np.ndarray) -> Transform:
        """Write ``image`` into the model input buffer.

        Parameters
        ----------
        image : numpy.ndarray, shape (H, W, 3), uint8
            BGR frame.

        Returns
        -------
        Transform
            Mapping from model-input pixels back to ``image``.
        """
        self._confine()
        return prepare_input(self.card.input, image, self._input)

    def infer(self) -> dict[str, np.ndarray]:
        """Run the model on the prepared input.

        Returns
        -------
        dict of str to numpy.ndarray
            The outputs the family decoder needs, by name (shapes as in the graph).
        """
        self._confine()
        values = self._session.run(self._output_names, {self.card.input.name: self._input})
        return dict(zip(self._output_names, values))

    def decode(self, raw: dict[str, np.ndarray], transform: Transform) -> Detections:
        """Turn raw outputs into final detections in frame pixels.

        Family decode, confidence and class filters, class-aware NMS, then mapping back
        through ``transform`` and clipping to the frame (boxes left empty by clipping,
        e.g. ones inside letterbox padding, are dropped).

        Parameters
        ----------
        raw : dict of str to numpy.ndarray
            Output of :meth:`infer`.
        transform : Transform
            Output of :meth:`prepare` for the same frame.

        Returns
        -------
        Detections
            At most ``max_det`` rows, highest score first.
        """
        xyxy, score, class_id = self._family.decode(raw, self.card, conf=self.conf)
        if self._class_ids is not None:
            wanted = np.isin(class_id, self._class_ids)
            xyxy, score, class_id = xyxy[wanted], score[wanted], class_id[wanted]
        keep = batched_nms(xyxy, score, class_id, self.iou)[: self.max_det]
        xyxy, score, class_id = xyxy[keep], score[keep], class_id[keep]
        scale = np.array([transform.scale_x, transform.scale_y] * 2, np.float32)
        pad = np.array([transform.pad_x, transform.pad_y] * 2, np.float32)
        xyxy = (xyxy - pad) / scale
        np.clip(xyxy[:, 0::2], 0, transform.width, out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], 0, transform.height, out=xyxy[:, 1::2])
        visible = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        return Detections(
            xyxy=np.ascontiguousarray(xyxy[visible], np.float32),
            confidence=np.ascontiguousarray(score[visible], np.float32),
            class_id=np.ascontiguousarray(class_id[visible], np.int32),
        )

    def detect(self, image: np.ndarray) -> Detections:
        """Detect objects in one frame.

        Parameters
        ----------
        image : numpy.ndarray, shape (H, W, 3), uint8
            BGR frame.

        Returns
        -------
        Detections
            Boxes in ``image`` pixels, clipped to it.
        """
        transform = self.prepare(image)
        return self.decode(self.infer(), transform)

    def set_input_size(self, width: int, height: int) -> None:
        """Feed the model ``width`` x ``height`` pictures from now on (the card's size by default).

        Only for models whose graph leaves the input size open (CenterFace): the privacy step
        sizes the input to the frame, so a small frame is not enlarged. Call it from the
        detector's thread, between frames.

        Raises
        ------
        ConfigError
            If the graph's input has a fixed height or width, or the size is not positive.
        """
        if width < 1 or height < 1:
            raise ConfigError(f"input size must be positive, got {width}x{height}")
        dims = self._session.get_inputs()[0].shape
        if any(isinstance(d, int) and d != want for d, want in zip(dims[2:], (height, width))):
            raise ConfigError(f"model {self.path.name}: its input size is fixed ({dims}), not {width}x{height}")
        self._confine()
        spec = self.card.input.model_copy(update={"width": int(width), "height": int(height)})
        self.card = self.card.model_copy(update={"input": spec})
        self.input_size = (spec.width, spec.height)
        self._input = np.zeros((1, 3, spec.height, spec.width), np.float32)

    def warmup(self) -> None:
        """Run one inference on a blank frame so the first real frame is not slow."""
        width, height = self.input_size
        self.detect(np.zeros((height, width, 3), np.uint8))
