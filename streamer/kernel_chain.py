"""The image-processing steps a user picks (``--kernels``) and the object that runs them.

Text form, steps separated by commas, options by colons::

    denoise=gaussian:ksize=5,white_balance=grayworld,gamma=0.8,edges=sobel:threshold=80
    denoise=temporal:strength=4,clahe=2.0:tiles=8,saturation=1.2,edges=canny:low=50:high=150
    motion=background:threshold=25:min_area=200

YAML form, a list whose items are the same strings or one-key mappings::

    kernels:
      - denoise: {method: gaussian, ksize: 5}
      - white_balance: grayworld
      - gamma: 0.8
      - edges: {method: sobel, threshold: 80}

Each step kind is a pydantic model (unknown options are errors); a kind with several
methods (``denoise``, ``edges``) is a union on ``method``.

Fusion: a run of per-pixel steps (a binomial ``denoise=gaussian`` with ksize 3 or 5
and sigma 0, then colour steps, then ``edges=sobel``/``scharr``) runs as one pass
(:func:`streamer.kernels.fused_filter`).  Colour steps in such a run apply in a fixed
order whatever their order in the spec: white balance, contrast, brightness, gamma,
saturation.  White-balance gains are measured on the frame entering the run (before
its blur; a blur moves channel means by well under 0.1%).

Stateful steps (``denoise=temporal``, ``motion``) keep their state in the chain, one
chain per stream; each resets itself on a scene cut or a change of resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Annotated, Any, Literal, NamedTuple, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from streamer import kernels as K
from streamer.errors import ConfigError, did_you_mean


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _odd(v: int) -> int:
    if v % 2 == 0:
        raise ValueError(f"ksize must be odd, got {v}")
    return v


class Denoise(_Step):
    """Gaussian smoothing (``ksize`` odd, ``sigma`` 0 derives it from ``ksize``)."""

    kind: Literal["denoise"] = "denoise"
    method: Literal["gaussian"] = "gaussian"
    ksize: int = Field(5, ge=1, le=31)
    sigma: float = Field(0.0, ge=0.0, le=50.0)

    _odd_ksize = field_validator("ksize")(_odd)


class BilateralDenoise(_Step):
    """Edge-preserving bilateral filter (as cv2.bilateralFilter)."""

    kind: Literal["denoise"] = "denoise"
    method: Literal["bilateral"] = "bilateral"
    d: int = Field(5, ge=0, le=21)
    sigma_color: float = Field(30.0, gt=0.0, le=255.0)
    sigma_space: float = Field(5.0, gt=0.0, le=50.0)


class MedianDenoise(_Step):
    """3x3 median (salt-and-pepper noise)."""

    kind: Literal["denoise"] = "denoise"
    method: Literal["median3"] = "median3"


class TemporalDenoise(_Step):
    """Motion-adaptive temporal denoiser (:class:`streamer.kernels.TemporalDenoiser`)."""

    kind: Literal["denoise"] = "denoise"
    method: Literal["temporal"] = "temporal"
    strength: float = Field(4.0, gt=0.0, le=64.0)
    history: float = Field(10.0, ge=1.0, le=100.0)
    spatial: int = Field(0, ge=0, le=255)


class WhiteBalance(_Step):
    kind: Literal["white_balance"] = "white_balance"
    method: Literal["grayworld", "whitepatch", "none"] = "grayworld"
    percentile: float = Field(99.0, gt=0.0, le=100.0)


class Gamma(_Step):
    kind: Literal["gamma"] = "gamma"
    value: float = Field(1.0, gt=0.0, le=10.0)


class Brightness(_Step):
    kind: Literal["brightness"] = "brightness"
    value: float = Field(0.0, ge=-255.0, le=255.0)


class Contrast(_Step):
    kind: Literal["contrast"] = "contrast"
    value: float = Field(1.0, ge=0.0, le=10.0)


class Saturation(_Step):
    kind: Literal["saturation"] = "saturation"
    value: float = Field(1.0, ge=0.0, le=10.0)


class Clahe(_Step):
    """CLAHE on luma: ``limit`` is cv2's clipLimit, ``tiles`` the grid per side."""

    kind: Literal["clahe"] = "clahe"
    limit: float = Field(2.0, ge=0.0, le=100.0)
    tiles: int = Field(8, ge=1, le=64)


class _EdgeStep(_Step):
    """What every edge step shares: how the overlay stage paints its map."""

    kind: Literal["edges"] = "edges"
    threshold: int = Field(64, ge=0, le=255)
    alpha: float = Field(0.6, ge=0.0, le=1.0)
    overlay: bool = True


class Edges(_EdgeStep):
    """Sobel edge map, blended onto the output picture when ``overlay`` is true."""

    method: Literal["sobel"] = "sobel"


class ScharrEdges(_EdgeStep):
    """Scharr edge map (about 5x Sobel's response: a higher default ``threshold``)."""

    method: Literal["scharr"] = "scharr"
    threshold: int = Field(192, ge=0, le=255)


class CannyEdges(_EdgeStep):
    """Canny edges (0/255 map) with hysteresis thresholds ``low`` <= ``high``."""

    method: Literal["canny"] = "canny"
    low: float = Field(50.0, ge=0.0, le=2040.0)
    high: float = Field(150.0, ge=0.0, le=2040.0)
    threshold: int = Field(128, ge=0, le=255)


class Motion(_Step):
    """Motion mask, boxes and score (:class:`streamer.kernels.MotionDetector`).

    ``mask`` keeps the full mask in the result (a new array per frame); by default
    only boxes and score travel with the frame.
    """

    kind: Literal["motion"] = "motion"
    method: Literal["background", "diff"] = "background"
    threshold: float = Field(25.0, gt=0.0, lt=255.0)
    alpha: float = Field(0.05, gt=0.0, le=1.0)
    ksize: int = Field(3, ge=0, le=31)
    min_area: int = Field(100, ge=1)
    mask: bool = False

    @field_validator("ksize")
    @classmethod
    def _odd_or_zero(cls, v: int) -> int:
        if v != 0 and v % 2 == 0:
            raise ValueError(f"ksize must be 0 or odd, got {v}")
        return v


class Resize(_Step):
    """Resize the picture to ``width`` x ``height`` (bilinear, or area to shrink)."""

    kind: Literal["resize"] = "resize"
    method: Literal["bilinear", "area"] = "bilinear"
    width: int = Field(..., ge=1, le=16384)
    height: int = Field(..., ge=1, le=16384)


DenoiseStep = Annotated[
    Union[Denoise, BilateralDenoise, MedianDenoise, TemporalDenoise], Field(discriminator="method")
]
EdgeStep = Annotated[Union[Edges, ScharrEdges, CannyEdges], Field(discriminator="method")]
KernelStep = Annotated[
    Union[DenoiseStep, WhiteBalance, Gamma, Brightness, Contrast, Saturation, Clahe, EdgeStep,
          Motion, Resize],
    Field(discriminator="kind"),
]
_STEP_LIST: TypeAdapter[list[KernelStep]] = TypeAdapter(list[KernelStep])

# The option a bare value ("gamma=0.8", "denoise=gaussian") sets, per step kind.
_MAIN_OPTION: Mapping[str, str] = MappingProxyType(
    {"denoise": "method", "white_balance": "method", "edges": "method",
     "gamma": "value", "brightness": "value", "contrast": "value", "saturation": "value",
     "clahe": "limit", "motion": "method", "resize": "method"}
)
# Kinds whose models are a union on ``method``: its default when none is given.
_DEFAULT_METHOD: Mapping[str, str] = MappingProxyType(
    {"denoise": "gaussian", "edges": "sobel", "motion": "background", "resize": "bilinear"}
)
STEP_KINDS: tuple[str, ...] = tuple(_MAIN_OPTION)


def _coerce(text: str) -> Any:
    low = text.lower()
    if low in {"true", "yes", "on"}:
        return True
    if low in {"false", "no", "off"}:
        return False
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


class KernelStepError(ConfigError):
    """A kernel step is invalid; ``index`` (0-based) says which, so a config can point at its line."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


def _step_dict(kind: str, main: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    if kind not in _MAIN_OPTION:
        raise ConfigError(f"unknown kernel step {kind!r}{did_you_mean(kind, STEP_KINDS)} (known: {', '.join(STEP_KINDS)})")
    out: dict[str, Any] = {"kind": kind}
    if main is not None:
        out[_MAIN_OPTION[kind]] = main
    out.update(options)
    if kind in _DEFAULT_METHOD:
        out.setdefault("method", _DEFAULT_METHOD[kind])
    return out


def _parse_text_step(text: str) -> dict[str, Any]:
    head, *opts = [p.strip() for p in text.split(":")]
    kind, sep, main = head.partition("=")
    options: dict[str, Any] = {}
    for opt in opts:
        key, eq, value = opt.partition("=")
        if not eq or not key:
            raise ConfigError(f"kernel step {text!r}: option {opt!r} is not key=value")
        options[key.strip()] = _coerce(value.strip())
    return _step_dict(kind.strip(), _coerce(main.strip()) if sep else None, options)


def _error_message(exc: ValidationError, raw: list[dict[str, Any]]) -> str:
    """``kernel step 'denoise' (#1): ksize: ...`` from pydantic's first error."""
    err = exc.errors()[0]
    loc = err["loc"]
    idx = loc[0] if loc else 0
    step = raw[idx]["kind"] if isinstance(idx, int) and idx < len(raw) else "?"
    # loc is (index, kind tag[, method tag], field...): keep the field path.
    path = [str(p) for p in loc[2:]]
    if path and isinstance(idx, int) and idx < len(raw) and path[0] == str(raw[idx].get("method")):
        path = path[1:]
    where = ".".join(path) or "step"
    number = idx + 1 if isinstance(idx, int) else idx
    return f"kernel step {step!r} (#{number}): {where}: {err['msg']}"


def parse_kernels(spec: str | Sequence[Any] | None) -> list[KernelStep]:
    """Parse the text or YAML form into validated steps.

    Raises
    ------
    ConfigError
        Naming the step and option at fault.
    """
    if spec is None:
        return []
    raw: list[dict[str, Any]] = []
    if isinstance(spec, str):
        items: Sequence[Any] = [s for s in (p.strip() for p in spec.split(",")) if s and s.lower() != "none"]
    else:
        items = spec
    for index, item in enumerate(items):
        try:
            raw.append(_raw_step(item))
        except KernelStepError:
            raise
        except ConfigError as exc:
            raise KernelStepError(str(exc), index) from None
    try:
        steps = _STEP_LIST.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]["loc"]
        raise KernelStepError(_error_message(exc, raw), first[0] if first and isinstance(first[0], int) else 0) from None
    for index, step in enumerate(steps):
        if isinstance(step, CannyEdges) and step.low > step.high:
            raise KernelStepError(f"kernel step 'edges' (#{index + 1}): low ({step.low}) must not exceed "
                                  f"high ({step.high})", index)
    return steps


def _raw_step(item: Any) -> dict[str, Any]:
    """One step of the text or YAML form as a dict for validation."""
    if isinstance(item, BaseModel):
        return item.model_dump()
    if isinstance(item, str):
        return _parse_text_step(item)
    if isinstance(item, Mapping) and "kind" in item:
        return _step_dict(str(item["kind"]), None, {k: v for k, v in item.items() if k != "kind"})
    if isinstance(item, Mapping) and len(item) == 1:
        ((kind, value),) = item.items()
        if isinstance(value, Mapping):
            return _step_dict(str(kind), None, value)
        return _step_dict(str(kind), value, {})
    raise ConfigError(f"kernel step {item!r}: expected 'name=value:opt=...' or a one-key mapping")


def format_kernels(steps: Sequence[KernelStep]) -> str:
    """The text form of ``steps`` (for logs and the summary)."""
    parts = []
    for s in steps:
        d = s.model_dump(exclude={"kind"})
        main = _MAIN_OPTION[s.kind]
        head = f"{s.kind}={d.pop(main)}"
        parts.append(":".join([head, *(f"{k}={v}" for k, v in d.items())]))
    return ",".join(parts) or "none"


class ChainResult(NamedTuple):
    """What :meth:`KernelChain.apply` returns for one frame."""

    image: np.ndarray
    edges: np.ndarray | None
    motion: K.MotionResult | None


_COLOUR = (WhiteBalance, Gamma, Brightness, Contrast, Saturation)
_GRADIENT = (Edges, ScharrEdges)


def _fusable_blur(step: KernelStep) -> bool:
    return isinstance(step, Denoise) and step.sigma == 0 and step.ksize in (3, 5)


class _Fused:
    """One run of per-pixel steps for :func:`streamer.kernels.fused_filter`."""

    def __init__(self, steps: list[KernelStep]) -> None:
        self.steps = steps
        self.blur = next((s.ksize for s in steps if isinstance(s, Denoise)), 0)
        self.edges = next((s for s in steps if isinstance(s, _GRADIENT)), None)
        colour = [s for s in steps if isinstance(s, _COLOUR)]
        self.has_colour = bool(colour)
        self.balance, self.percentile = "none", 99.0
        self.gamma, self.brightness, self.contrast, self.saturation = 1.0, 0.0, 1.0, 1.0
        for s in colour:
            if isinstance(s, WhiteBalance):
                self.balance, self.percentile = s.method, s.percentile
            elif isinstance(s, Gamma):
                self.gamma = s.value
            elif isinstance(s, Brightness):
                self.brightness = s.value
            elif isinstance(s, Contrast):
                self.contrast = s.value
            elif isinstance(s, Saturation):
                self.saturation = s.value


def _plan(steps: Sequence[KernelStep]) -> list[KernelStep | _Fused]:
    """Group the steps: fusable runs become one :class:`_Fused` each."""
    plan: list[KernelStep | _Fused] = []
    run: list[KernelStep] = []

    def close() -> None:
        if run:
            plan.append(_Fused(list(run)))
            run.clear()

    for s in steps:
        if _fusable_blur(s):
            close()
            run.append(s)
        elif isinstance(s, _COLOUR) and not any(isinstance(r, _GRADIENT) for r in run):
            run.append(s)
        elif isinstance(s, _GRADIENT) and not any(isinstance(r, _GRADIENT) for r in run):
            run.append(s)
            close()
        else:
            close()
            if isinstance(s, _GRADIENT):
                plan.append(_Fused([s]))
            else:
                plan.append(s)
    close()
    return plan


class KernelChain:
    """Run the steps on each frame, reusing buffers between frames; one per stream.

    ``apply(image)`` returns a :class:`ChainResult`: the processed picture, which may
    be a different array than ``image`` (a blur cannot run in place: the result goes
    to a spare buffer and the input becomes the next frame's spare), the last edge
    map or None (a new array per frame, as it travels with its frame), and the motion
    result or None.  Stateful steps (temporal denoise,
    motion) keep their state here and reset on a scene cut or new resolution.  Used
    from one thread.
    """

    def __init__(self, steps: Sequence[KernelStep]) -> None:
        self.steps = list(steps)
        edges = [s for s in self.steps if s.kind == "edges"]
        self.edges: _EdgeStep | None = edges[-1] if edges else None
        self._plan = _plan(self.steps)
        self._state: dict[int, Any] = {}
        for i, s in enumerate(self._plan):
            if isinstance(s, TemporalDenoise):
                self._state[i] = K.TemporalDenoiser(s.strength, history=s.history, spatial=s.spatial)
            elif isinstance(s, Motion):
                self._state[i] = K.MotionDetector(s.method, threshold=s.threshold, alpha=s.alpha,
                                                  ksize=s.ksize, min_area=s.min_area)
            elif isinstance(s, Clahe):
                self._state[i] = K.Clahe(s.limit, s.tiles)
        self._spare: np.ndarray | None = None
        self._stack: np.ndarray | None = None
        self._lut = np.empty((3, 256), np.uint8)

    def __bool__(self) -> bool:
        return bool(self.steps)

    def families(self) -> tuple[str, ...]:
        """Kernel families (:data:`streamer.kernels.FAMILIES` names) this chain calls, to warm up."""
        by_type: dict[type, str] = {
            Denoise: "gaussian", BilateralDenoise: "bilateral", MedianDenoise: "median",
            TemporalDenoise: "temporal", Clahe: "clahe", Motion: "motion", Resize: "resize",
            CannyEdges: "edges", _Fused: "fused",
        }
        found = {by_type.get(type(step), "color" if isinstance(step, _COLOUR) else "edges")
                 for step in self._plan}
        if self.edges is not None:
            found.add("edges")  # the overlay blends the edge map
        return tuple(sorted(found))

    def families_with(self, *, detects: bool) -> tuple[str, ...]:
        """:meth:`families`, and ``preprocess`` when the camera runs a detector (its own, a
        shared one or the face detector): what it warms up. Empty: it needs no kernel, and
        Numba (~0.5 s of CPU with SciPy) is not loaded."""
        return tuple(sorted({*self.families(), *(("preprocess",) if detects else ())}))

    def reset(self) -> None:
        """Forget the stream's past (temporal denoise, motion background)."""
        for state in self._state.values():
            if hasattr(state, "reset"):
                state.reset()

    def _spare_for(self, image: np.ndarray) -> np.ndarray:
        if self._spare is None or self._spare.shape != image.shape:
            self._spare = np.empty_like(image)
        return self._spare

    def _swap(self, image: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out`` holds the new picture: the old one becomes the spare."""
        if out is not image:
            self._spare = image
        return out

    def apply(self, image: np.ndarray, *,
              motion_exclude: Callable[[tuple[int, int]], np.ndarray | None] | None = None) -> ChainResult:
        """Process ``image`` (H, W, 3) uint8 BGR; see the class docstring.

        ``motion_exclude``, called with the (H, W) of the picture the motion step sees
        (after any resize before it), returns where motion is ignored: (H, W) bool or
        uint8, nonzero inside the masks, or None.
        """
        edges: np.ndarray | None = None
        motion: K.MotionResult | None = None
        for i, step in enumerate(self._plan):
            if isinstance(step, _Fused):
                image, step_edges = self._apply_fused(step, image)
                if step_edges is not None:
                    edges = step_edges
            elif isinstance(step, Denoise):
                out = K.gaussian_blur(image, ksize=step.ksize, sigma=step.sigma, out=self._spare_for(image))
                image = self._swap(image, out)
            elif isinstance(step, BilateralDenoise):
                out = K.bilateral_filter(image, d=step.d, sigma_color=step.sigma_color,
                                         sigma_space=step.sigma_space, out=self._spare_for(image))
                image = self._swap(image, out)
            elif isinstance(step, MedianDenoise):
                image = self._swap(image, K.median_blur(image, out=self._spare_for(image)))
            elif isinstance(step, TemporalDenoise):
                image = self._swap(image, self._state[i].apply(image, out=self._spare_for(image)))
            elif isinstance(step, Clahe):
                self._state[i].apply(image, out=image)
            elif isinstance(step, CannyEdges):
                height, width = image.shape[:2]
                if self._stack is None or self._stack.shape[0] != height * width:
                    self._stack = np.empty(height * width, np.int32)
                edges = K.canny_edges(image, low=step.low, high=step.high,
                                      out=np.empty((height, width), np.uint8), stack=self._stack)
            elif isinstance(step, Motion):
                exclude = motion_exclude(image.shape[:2]) if motion_exclude is not None else None
                motion = self._state[i].update(image, keep_mask=step.mask, exclude=exclude)
            elif isinstance(step, Resize):
                if image.shape[:2] != (step.height, step.width):
                    # Area sampling only shrinks; enlarging falls back to bilinear.
                    shrinks = step.width <= image.shape[1] and step.height <= image.shape[0]
                    method = step.method if shrinks else "bilinear"
                    # A new array: the previous frame's picture may still be downstream.
                    image = K.resize(image, (step.width, step.height), method=method)
        return ChainResult(image, edges, motion)

    def _apply_fused(self, step: _Fused, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        lut = None
        if step.has_colour:
            gains = K.balance_gains(image, step.balance, percentile=step.percentile)
            lut = K.color_lut(gains, gamma=step.gamma, brightness=step.brightness,
                              contrast=step.contrast, out=self._lut)
        kind = None
        if step.edges is not None:
            kind = "sobel" if isinstance(step.edges, Edges) else "scharr"
        edge_map = np.empty(image.shape[:2], np.uint8) if kind else None
        in_place = not step.blur and kind is None
        out = image if in_place else self._spare_for(image)
        picture, edge_map = K.fused_filter(image, blur=step.blur, lut=lut, saturation=step.saturation,
                                           edges=kind, out=out, edges_out=edge_map)
        return self._swap(image, picture), edge_map
