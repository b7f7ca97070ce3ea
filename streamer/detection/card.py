"""Model cards: the YAML file beside an ``.onnx`` that says how to feed and decode it.

A card ``<stem>.yaml`` next to ``<stem>.onnx`` names the family, the input
preprocessing, the output names, the labels and the provenance.  When a model has no
card, :func:`card_from_graph` builds one by recognising the family from the graph's
shapes (and Ultralytics metadata) and applying that family's documented defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from streamer.detection.families import FAMILIES
from streamer.detection.graph import GraphInfo, file_sha256, read_graph
from streamer.detection.labels import default_labels
from streamer.errors import ConfigError, ModelError

FamilyName = Literal["yolox", "nanodet", "ultralytics", "fastestdet", "centerface"]


class InputSpec(BaseModel):
    """How a frame becomes the model's input tensor (arguments of ``kernels.preprocess``).

    ``mean`` and ``std`` are in the model's channel order (``color``); the tensor is
    ``(pixel - mean) / std``.  ``pad_value`` is a raw pixel value, before normalisation.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    color: Literal["bgr", "rgb"]
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    resize: Literal["stretch", "letterbox"]
    letterbox_align: Literal["center", "topleft"] = "center"
    pad_value: float = 0.0

    @field_validator("std")
    @classmethod
    def _nonzero(cls, std: tuple[float, float, float]) -> tuple[float, float, float]:
        if 0.0 in std:
            raise ValueError(f"must be non-zero, got {list(std)}")
        return std


class ModelCard(BaseModel):
    """Everything needed to run and credit one detector file.

    ``outputs`` is family-specific (see each module in :mod:`streamer.detection.families`)
    and is validated against the family's schema; it may be omitted when the graph's
    layout is recognisable, in which case :func:`bind_card` fills it in.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    file: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    family: FamilyName
    description: str = ""
    input: InputSpec
    outputs: dict[str, Any] | None = None
    labels: tuple[str, ...] = Field(min_length=1)
    licence: str
    licence_file: str | None = None
    source: str
    source_sha256: dict[str, str] | None = None
    conversion: dict[str, Any] | None = None

    @field_validator("outputs")
    @classmethod
    def _family_outputs(
        cls, outputs: dict[str, Any] | None, info: ValidationInfo
    ) -> dict[str, Any] | None:
        family = info.data.get("family")
        if outputs is None or family is None:  # family itself failed: reported there
            return outputs
        try:
            spec = FAMILIES[family].Outputs.model_validate(outputs)
        except ValidationError as exc:
            raise ValueError(f"for family {family}: {_first_error(exc)}") from None
        # Normalised form (tuples -> lists, defaults filled) so decoders can index it.
        return spec.model_dump(mode="json")


def _first_error(exc: ValidationError) -> str:
    """Return ``"key.path: message"`` for the first error, plus how many more."""
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}"


def load_card(path: str | Path) -> ModelCard:
    """Read and validate a card.

    Parameters
    ----------
    path : str or Path
        A ``.yaml`` card.

    Returns
    -------
    ModelCard

    Raises
    ------
    ConfigError
        If the file is missing or unreadable, is not YAML, or does not match the
        schema (the message names the first offending key path).
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"card {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"card {path}: cannot read ({exc})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"card {path}: invalid YAML{where}: {problem}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"card {path}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return ModelCard.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"card {path}: {_first_error(exc)}") from exc


def card_path(onnx_path: str | Path) -> Path:
    """Return where the card of ``onnx_path`` lives: same stem, ``.yaml``."""
    return Path(onnx_path).with_suffix(".yaml")


def find_card(onnx_path: str | Path) -> ModelCard | None:
    """Load the card beside a model, if there is one.

    Parameters
    ----------
    onnx_path : str or Path
        The model file.

    Returns
    -------
    ModelCard or None
        None when ``<stem>.yaml`` does not exist.

    Raises
    ------
    ConfigError
        If the card is invalid or describes another file.
    """
    path = card_path(onnx_path)
    if not path.is_file():
        return None
    card = load_card(path)
    if card.file != Path(onnx_path).name:
        raise ConfigError(
            f"card {path}: describes file {card.file!r}, not {Path(onnx_path).name!r}"
        )
    return card


def _no_layout(graph: GraphInfo, why: str) -> ModelError:
    inputs = ", ".join(str(t) for t in graph.inputs)
    supported = "; ".join(f.LAYOUT for f in FAMILIES.values())
    return ModelError(
        f"model {graph.path}: input {inputs} and outputs {graph.describe_outputs()} "
        f"{why} (supported: {supported})"
    )


def card_from_graph(onnx_path: str | Path, graph: GraphInfo | None = None) -> ModelCard:
    """Build a card for a model without one by recognising its family.

    Parameters
    ----------
    onnx_path : str or Path
        The model file.
    graph : GraphInfo, optional
        Its already-read interface (read from ``onnx_path`` when omitted).

    Returns
    -------
    ModelCard
        The family's default preprocessing, the outputs found, labels from Ultralytics
        metadata or COCO-80 (80 classes) or ``class_<i>``, licence "unknown" unless the
        metadata has one.

    Raises
    ------
    ModelError
        If the file is not an ONNX model, or its layout matches no family or several.
    """
    graph = graph if graph is not None else read_graph(onnx_path)
    found = [r for f in FAMILIES.values() if (r := f.recognise(graph)) is not None]
    if not found:
        raise _no_layout(graph, "match no supported layout")
    if len(found) > 1:
        names = ", ".join(r.family for r in found)
        raise _no_layout(graph, f"match several layouts ({names}); add a card naming the family")
    (match,) = found
    metadata = graph.metadata
    return ModelCard(
        name=graph.path.stem,
        file=graph.path.name,
        sha256=file_sha256(graph.path),
        family=match.family,  # type: ignore[arg-type]
        description=metadata.get("description", f"recognised as {match.family} from its graph"),
        input=InputSpec.model_validate(match.input),
        outputs=match.outputs,
        labels=match.labels or default_labels(match.num_classes),
        licence=metadata.get("license", "unknown"),
        source=str(graph.path),
    )


def bind_card(card: ModelCard, graph: GraphInfo) -> ModelCard:
    """Check a card against the graph it describes; fill in ``outputs`` if omitted.

    Parameters
    ----------
    card : ModelCard
    graph : GraphInfo
        The model's interface.

    Returns
    -------
    ModelCard
        ``card`` with ``outputs`` set.

    Raises
    ------
    ModelError
        If the input name, dtype or size, the output names or the number of classes
        disagree with the graph.
    """
    where = f"model {graph.path}"
    tensor = next((t for t in graph.inputs if t.name == card.input.name), None)
    if tensor is None:
        found = ", ".join(str(t) for t in graph.inputs)
        raise ModelError(f"{where}: card input {card.input.name!r} is not a graph input ({found})")
    if tensor.dtype != "float32" or len(tensor.shape) != 4 or tensor.shape[1] != 3:
        raise ModelError(f"{where}: input {tensor} is not supported (supported: float32 [1,3,H,W])")
    for axis, expected in ((2, card.input.height), (3, card.input.width)):
        dim = tensor.shape[axis]
        if isinstance(dim, int) and dim != expected:
            raise ModelError(
                f"{where}: input {tensor} does not match the card's "
                f"{card.input.width}x{card.input.height}"
            )
    family = FAMILIES[card.family]
    match = family.recognise(graph)
    outputs = card.outputs if card.outputs is not None else (match.outputs if match else None)
    if outputs is None:
        raise ModelError(
            f"{where}: outputs {graph.describe_outputs()} do not match the {card.family} "
            f"layout of its card ({family.LAYOUT})"
        )
    missing = [n for n in family.output_names(outputs) if graph.output(n) is None]
    if missing:
        raise ModelError(
            f"{where}: card names outputs {missing} that the graph lacks "
            f"(found {graph.describe_outputs()})"
        )
    if match is not None and match.num_classes != len(card.labels):
        raise ModelError(
            f"{where}: card lists {len(card.labels)} labels but the model outputs "
            f"{match.num_classes} class scores"
        )
    return card if card.outputs is not None else card.model_copy(update={"outputs": outputs})


def resolve_card(onnx_path: str | Path) -> tuple[ModelCard, Path | None]:
    """Return the checked card of a model and the card file it came from.

    Uses ``<stem>.yaml`` when present (its ``sha256`` must match the file), otherwise
    :func:`card_from_graph`.

    Parameters
    ----------
    onnx_path : str or Path
        The model file.

    Returns
    -------
    card : ModelCard
        Bound to the graph (``outputs`` filled in).
    path : Path or None
        The card file, or None when the card was built from the graph.

    Raises
    ------
    ModelError
        If the model is missing, not ONNX, unsupported, or disagrees with its card.
    ConfigError
        If the card file is invalid.
    """
    graph = read_graph(onnx_path)
    card = find_card(graph.path)
    if card is None:
        return bind_card(card_from_graph(graph.path, graph), graph), None
    actual = file_sha256(graph.path)
    if actual != card.sha256:
        raise ModelError(
            f"model {graph.path}: sha256 {actual[:12]}... differs from its card "
            f"{card_path(graph.path).name} ({card.sha256[:12]}...); the file or the card is stale"
        )
    return bind_card(card, graph), card_path(graph.path)
