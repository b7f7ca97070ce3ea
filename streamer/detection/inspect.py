"""What a model file is, for ``streamer models FILE``, and which models are bundled."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from streamer.detection.card import ModelCard, card_path, load_card, resolve_card
from streamer.detection.graph import TensorInfo, file_sha256, read_graph
from streamer.errors import StreamerError

#: Package holding the bundled ``.onnx`` files and their cards.
BUNDLED_PACKAGE = "streamer.models"


@dataclass(frozen=True)
class ModelDescription:
    """A model's interface and how this package reads it.

    Attributes
    ----------
    path : Path
        The model file.
    inputs, outputs : tuple of TensorInfo
        Graph inputs and outputs (name, shape, dtype).
    family : str or None
        Recognised or carded family, None when unsupported.
    reason : str
        How the family was decided (card or graph), or why it is unsupported.
    labels : tuple of str
        Class names (empty when unsupported).
    card_path : Path or None
        The card file beside the model, if any.
    sha256 : str
        Hex digest of the file.
    card : ModelCard or None
        The checked card, None when unsupported.
    """

    path: Path
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    family: str | None
    reason: str
    labels: tuple[str, ...]
    card_path: Path | None
    sha256: str
    card: ModelCard | None = None

    def format(self) -> str:
        """Return a human-readable multi-line summary."""
        lines = [f"model   {self.path}", f"sha256  {self.sha256}"]
        lines += [f"input   {t}" for t in self.inputs]
        lines += [f"output  {t}" for t in self.outputs]
        lines.append(f"family  {self.family or 'unsupported'} ({self.reason})")
        if self.card is not None:
            spec = self.card.input
            resize = spec.resize
            if resize == "letterbox":
                resize += f" ({spec.letterbox_align}, pad {spec.pad_value:g})"
            lines.append(
                f"prepare {spec.width}x{spec.height} {spec.color.upper()} {resize}, "
                f"mean {list(spec.mean)}, std {list(spec.std)}"
            )
            lines.append(f"licence {self.card.licence}")
        if self.labels:
            shown = ", ".join(self.labels[:10]) + (", ..." if len(self.labels) > 10 else "")
            lines.append(f"labels  {len(self.labels)}: {shown}")
        return "\n".join(lines)


def describe_model(path: str | Path) -> ModelDescription:
    """Describe a model file without running it.

    Parameters
    ----------
    path : str or Path
        An ``.onnx`` file.

    Returns
    -------
    ModelDescription
        ``family`` is None (with the reason) when no decoder supports the file.

    Raises
    ------
    ModelError
        If the file is missing, a directory or not ONNX.
    """
    graph = read_graph(path)
    beside = card_path(graph.path)
    found_card = beside if beside.is_file() else None
    try:
        card, used = resolve_card(graph.path)
    except StreamerError as exc:
        # The description already names the file; keep only what is wrong.
        reason = str(exc).removeprefix(f"model {graph.path}: ")
        family, labels, card = None, (), None
    else:
        family, labels = card.family, card.labels
        reason = f"card {used.name}" if used is not None else "recognised from the graph"
    return ModelDescription(
        path=graph.path,
        inputs=graph.inputs,
        outputs=graph.outputs,
        family=family,
        reason=reason,
        labels=labels,
        card_path=found_card,
        sha256=file_sha256(graph.path),
        card=card,
    )


def bundled_models() -> list[tuple[Path, ModelCard]]:
    """List the models shipped in ``streamer.models``, in card-file name order.

    Returns
    -------
    list of (Path, ModelCard)
        Each ``.onnx`` file with its card; cards whose model file is absent (not yet
        fetched or built) are left out.

    Raises
    ------
    ConfigError
        If a bundled card is invalid.
    """
    # Editable and wheel installs both give a real directory; zipped installs are not
    # supported because ONNX Runtime needs a file path.
    folder = Path(str(files(BUNDLED_PACKAGE)))
    models = []
    for card_file in sorted(folder.glob("*.yaml")):
        card = load_card(card_file)
        model = folder / card.file
        if model.is_file():
            models.append((model, card))
    return models
