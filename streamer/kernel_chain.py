"""The image-processing steps a user picks (``--kernels``) and the object that runs them.

Text form, steps separated by commas, options by colons::

    denoise=gaussian:ksize=5,white_balance=grayworld,gamma=0.8,edges=sobel:threshold=80

YAML form, a list whose items are the same strings or one-key mappings::

    kernels:
      - denoise: {method: gaussian, ksize: 5}
      - white_balance: grayworld
      - gamma: 0.8
      - edges: {method: sobel, threshold: 80}

Each step kind is a pydantic model (unknown options are errors). Consecutive colour steps
(white balance, brightness, contrast, gamma) run as one fused pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from streamer import kernels as K
from streamer.errors import ConfigError


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Denoise(_Step):
    """Gaussian smoothing (``ksize`` odd, ``sigma`` 0 derives it from ``ksize``)."""

    kind: Literal["denoise"] = "denoise"
    method: Literal["gaussian"] = "gaussian"
    ksize: int = Field(5, ge=1, le=31)
    sigma: float = Field(0.0, ge=0.0, le=50.0)

    @field_validator("ksize")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"ksize must be odd, got {v}")
        return v


class WhiteBalance(_Step):
    kind: Literal["white_balance"] = "white_balance"
    method: Literal["grayworld", "none"] = "grayworld"


class Gamma(_Step):
    kind: Literal["gamma"] = "gamma"
    value: float = Field(1.0, gt=0.0, le=10.0)


class Brightness(_Step):
    kind: Literal["brightness"] = "brightness"
    value: float = Field(0.0, ge=-255.0, le=255.0)


class Contrast(_Step):
    kind: Literal["contrast"] = "contrast"
    value: float = Field(1.0, ge=0.0, le=10.0)


class Edges(_Step):
    """Sobel edge map, blended onto the output picture when ``overlay`` is true."""

    kind: Literal["edges"] = "edges"
    method: Literal["sobel"] = "sobel"
    threshold: int = Field(64, ge=0, le=255)
    alpha: float = Field(0.6, ge=0.0, le=1.0)
    overlay: bool = True


KernelStep = Annotated[
    Union[Denoise, WhiteBalance, Gamma, Brightness, Contrast, Edges], Field(discriminator="kind")
]
_STEP_LIST: TypeAdapter[list[KernelStep]] = TypeAdapter(list[KernelStep])

# The option a bare value ("gamma=0.8", "denoise=gaussian") sets, per step kind.
_MAIN_OPTION: Mapping[str, str] = MappingProxyType(
    {"denoise": "method", "white_balance": "method", "edges": "method",
     "gamma": "value", "brightness": "value", "contrast": "value"}
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


def _step_dict(kind: str, main: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    if kind not in _MAIN_OPTION:
        raise ConfigError(f"unknown kernel step {kind!r} (known: {', '.join(STEP_KINDS)})")
    out: dict[str, Any] = {"kind": kind}
    if main is not None:
        out[_MAIN_OPTION[kind]] = main
    out.update(options)
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
    for item in items:
        if isinstance(item, BaseModel):
            raw.append(item.model_dump())
        elif isinstance(item, str):
            raw.append(_parse_text_step(item))
        elif isinstance(item, Mapping) and "kind" in item:
            raw.append(dict(item))
        elif isinstance(item, Mapping) and len(item) == 1:
            ((kind, value),) = item.items()
            if isinstance(value, Mapping):
                raw.append(_step_dict(str(kind), None, value))
            else:
                raw.append(_step_dict(str(kind), value, {}))
        else:
            raise ConfigError(f"kernel step {item!r}: expected 'name=value:opt=...' or a one-key mapping")
    try:
        return _STEP_LIST.validate_python(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        idx = err["loc"][0] if err["loc"] else 0
        where = ".".join(str(p) for p in err["loc"][2:]) or "step"
        step = raw[idx]["kind"] if isinstance(idx, int) and idx < len(raw) else "?"
        raise ConfigError(f"kernel step {step!r} (#{idx + 1 if isinstance(idx, int) else idx}): {where}: {err['msg']}") from None


def format_kernels(steps: Sequence[KernelStep]) -> str:
    """The text form of ``steps`` (for logs and the summary)."""
    parts = []
    for s in steps:
        d = s.model_dump(exclude={"kind"})
        main = _MAIN_OPTION[s.kind]
        head = f"{s.kind}={d.pop(main)}"
        parts.append(":".join([head, *(f"{k}={v}" for k, v in d.items())]))
    return ",".join(parts) or "none"


class KernelChain:
    """Run the steps on each frame, reusing buffers between frames.

    ``apply(image)`` returns the processed picture, which may be a different array than
    ``image`` (a blur cannot run in place: the result goes to a scratch buffer and the
    input becomes the next frame's scratch), and the edge map or None.
    """

    def __init__(self, steps: Sequence[KernelStep]) -> None:
        self.steps = list(steps)
        self._scratch: np.ndarray | None = None
        edges = [s for s in self.steps if isinstance(s, Edges)]
        self.edges: Edges | None = edges[-1] if edges else None

    def __bool__(self) -> bool:
        return bool(self.steps)

    def _groups(self) -> list[list[KernelStep]]:
        groups: list[list[KernelStep]] = []
        colour = (WhiteBalance, Gamma, Brightness, Contrast)
        for s in self.steps:
            if isinstance(s, colour) and groups and isinstance(groups[-1][0], colour):
                groups[-1].append(s)
            else:
                groups.append([s])
        return groups

    def apply(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Process ``image`` (H, W, 3) uint8 BGR; returns (picture, edges (H, W) uint8 or None)."""
        edges: np.ndarray | None = None
        for group in self._groups():
            head = group[0]
            if isinstance(head, Denoise):
                if self._scratch is None or self._scratch.shape != image.shape:
                    self._scratch = np.empty_like(image)
                out = K.gaussian_blur(image, ksize=head.ksize, sigma=head.sigma, out=self._scratch)
                self._scratch, image = image, out
            elif isinstance(head, Edges):
                edges = K.sobel_edges(image)
            else:
                wb, gamma, brightness, contrast = False, 1.0, 0.0, 1.0
                for s in group:
                    if isinstance(s, WhiteBalance):
                        wb = s.method == "grayworld"
                    elif isinstance(s, Gamma):
                        gamma = s.value
                    elif isinstance(s, Brightness):
                        brightness = s.value
                    elif isinstance(s, Contrast):
                        contrast = s.value
                K.color_adjust(image, white_balance=wb, gamma=gamma, brightness=brightness,
                               contrast=contrast, out=image)
        return image, edges
