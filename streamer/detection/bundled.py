"""The models shipped in ``streamer.models``: short names, files, the default.

This module is the one place that maps a short name (``--model yolox-nano``, YAML
``model: nanodet-g``, ``Detector("nanodet-g")``) to a bundled file.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from streamer.detection.card import ModelCard, load_card
from streamer.errors import ModelError

#: Package holding the bundled ``.onnx`` files and their cards.
BUNDLED_PACKAGE = "streamer.models"

#: Short name -> ONNX file in ``streamer.models``; the default first.  YOLOX-Nano is the
#: default: COCO mAP 25.8 against NanoDet-g's 22.9 (the projects' model zoos), and 2.8x
#: faster: 14.3-14.8 ms against 40.9-41.9 ms per inference on one thread of this
#: project's 2-core CPU (``streamer models --bench``, three runs while the machine was busy).
BUNDLED: Mapping[str, str] = MappingProxyType({
    "yolox-nano": "yolox_nano_416_coco.onnx",
    "nanodet-g": "nanodet_g_416_coco.onnx",
})
#: Short name -> its INT8 file in ``streamer.models`` (``--precision``, see
#: :mod:`streamer.detection.precision`).  YOLOX-Nano has none: its INT8 graph that keeps
#: 99.2 % of the boxes runs only 1.20x faster, short of the 1.3x bar (models/README.md).
INT8_VARIANTS: Mapping[str, str] = MappingProxyType({
    "nanodet-g": "nanodet_g_416_coco_int8.onnx",
})
#: The model used when none is given (``model: null``).
DEFAULT_MODEL = next(iter(BUNDLED))


class BundledModel(NamedTuple):
    """One bundled model: its short name, its file and its card."""

    name: str
    path: Path
    card: ModelCard


def models_dir() -> Path:
    """Return the folder of ``streamer.models``.

    Editable and wheel installs both give a real directory; zipped installs are not
    supported because ONNX Runtime needs a file path.
    """
    return Path(str(files(BUNDLED_PACKAGE)))


def bundled_models() -> list[BundledModel]:
    """List the bundled models present, the default first.

    Returns
    -------
    list of BundledModel
        Names whose ``.onnx`` file is absent (not yet fetched or built) are left out.

    Raises
    ------
    ConfigError
        If a bundled card is invalid.
    """
    folder = models_dir()
    found = []
    for name, file in BUNDLED.items():
        path = folder / file
        if path.is_file():
            found.append(BundledModel(name, path, load_card(path.with_suffix(".yaml"))))
    return found


def int8_models() -> list[BundledModel]:
    """List the INT8 variants present, named ``<name> (int8)`` (``--precision int8``).

    Raises
    ------
    ConfigError
        If a card is invalid.
    """
    folder = models_dir()
    return [BundledModel(f"{name} (int8)", folder / file, load_card((folder / file).with_suffix(".yaml")))
            for name, file in INT8_VARIANTS.items() if (folder / file).is_file()]


def unknown_name_message(name: str) -> str:
    """Return the one-line error for a model name that is neither bundled nor a file."""
    close = difflib.get_close_matches(name.lower(), BUNDLED, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return (f"model {name!r}: no such file and not a bundled model name "
            f"(bundled: {', '.join(BUNDLED)}){hint}")


def _looks_like_name(text: str) -> bool:
    """True for ``yolo-nano``, False for ``x.onnx``, ``dir/x`` or ``./x`` (paths)."""
    return "/" not in text and "\\" not in text and not text.lower().endswith(".onnx")


def resolve_model(model: str | Path | None) -> Path:
    """Turn ``--model`` / ``model:`` / ``Detector(model)`` into an ONNX file path.

    Parameters
    ----------
    model : str or Path or None
        None for the default (:data:`DEFAULT_MODEL`), a bundled short name, or a path.
        A short name wins over a file of the same name in the current folder (write
        ``./yolox-nano`` for the file).

    Returns
    -------
    Path
        The bundled file, or ``model`` itself as a path (checked later, when opened).

    Raises
    ------
    ModelError
        If a short name's file is missing from the installation, or ``model`` is not
        an existing file and looks like a name but is not one (the message lists the
        bundled names and suggests the closest).
    """
    name = DEFAULT_MODEL if model is None else str(model)
    if name in BUNDLED:
        path = models_dir() / BUNDLED[name]
        if not path.is_file():
            raise ModelError(f"model {name!r}: bundled file {path} is missing; reinstall streamer")
        return path
    if _looks_like_name(name) and not Path(name).exists():
        raise ModelError(unknown_name_message(name))
    return Path(name)
