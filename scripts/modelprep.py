"""Helpers shared by the model preparation scripts (``export_nanodet.py``, ``card_yolox.py``).

File digests and pinned-hash checks, idempotent writes, model cards (rendered as
commented YAML, parsed back and validated), tool versions, licence files and the
generated sections of ``models/README.md``.

Only the standard library and PyYAML are needed at import time, so the scripts can run
in a separate conversion environment (``export_nanodet.py --venv``) where streamer
itself is not installed; checks that need streamer say so and are skipped there.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import platform
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"

#: sha256 of the canonical text of the Apache License 2.0
#: (https://www.apache.org/licenses/LICENSE-2.0.txt), which every Apache-2.0 licence
#: file in models/ carries after :data:`LICENCE_SEPARATOR`.
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
#: Line between a licence file's notice (copyright, changes) and the full licence text.
LICENCE_SEPARATOR = "-" * 79 + "\n\n"
#: Column where the trailing comments of a rendered card start (as in the NanoDet card).
COMMENT_COLUMN = 27


class PrepError(RuntimeError):
    """A failure with a one-line message meant for the user (printed without a traceback)."""


def script_main(name: str, parse_args: Any, run: Any, argv: list[str] | None = None) -> int:
    """A preparation script's entry point: parse, run, and turn its errors into one line.

    Parameters
    ----------
    name : str
        The script's name, in front of the error line (``card_yolox: error: ...``).
    parse_args, run : callable
        ``parse_args(argv) -> namespace`` and ``run(namespace)``.
    argv : list of str, optional
        The arguments (default: the command line's).

    Returns
    -------
    int
        The exit status: 0, or 1 after a :class:`PrepError` or a streamer error.
    """
    import sys

    try:
        from streamer.errors import StreamerError
    except ImportError:  # a conversion environment without streamer
        StreamerError = PrepError
    try:
        run(parse_args(list(sys.argv[1:] if argv is None else argv)))
    except (PrepError, StreamerError) as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1
    return 0


def log(msg: str = "") -> None:
    """Print a progress line immediately (the scripts can be long-running)."""
    print(msg, flush=True)


# --------------------------------------------------------------------------- files


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file.

    Parameters
    ----------
    path : Path

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_sha256(path: Path, expected: str) -> str:
    """Check a file against its pinned sha256.

    Parameters
    ----------
    path : Path
        The file.
    expected : str
        The pinned hex digest.

    Returns
    -------
    str
        The digest (equal to ``expected``).

    Raises
    ------
    PrepError
        If the file is missing or its digest differs.
    """
    if not path.is_file():
        raise PrepError(f"{path}: file not found")
    actual = sha256_file(path)
    if actual != expected:
        raise PrepError(f"{path}: sha256 {actual} differs from the pinned {expected}")
    return actual


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically write ``data`` to ``path`` unless it already holds exactly that.

    Parameters
    ----------
    path : Path
    data : bytes

    Returns
    -------
    bool
        True when the file was (re)written.
    """
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def tool_versions(*modules: str, **aliases: str) -> dict[str, str]:
    """Versions of the Python packages that take part in a preparation, to record.

    Parameters
    ----------
    *modules : str
        Importable module names, recorded under their own name.
    **aliases : str
        ``label=module`` for modules recorded under another name (``opencv="cv2"``).

    Returns
    -------
    dict of str to str
        ``python`` first, then each module's ``__version__`` ("not installed" when the
        import fails), in the order given.
    """
    versions = {"python": platform.python_version()}
    for label, module in [(m, m) for m in modules] + list(aliases.items()):
        try:
            versions[label] = str(getattr(importlib.import_module(module), "__version__", "unknown"))
        except ImportError:
            versions[label] = "not installed"
    return versions


def coco_labels() -> tuple[str, ...]:
    """The 80 COCO class names, read from the product's own list.

    Loads ``streamer/detection/labels.py`` by path (it imports nothing), so the names are
    defined once and this works where streamer is not installed.

    Returns
    -------
    tuple of str
    """
    spec = importlib.util.spec_from_file_location(
        "_streamer_labels", REPO_ROOT / "streamer" / "detection" / "labels.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.COCO80)


# --------------------------------------------------------------------------- model cards

_PLAIN_YAML = re.compile(r"[A-Za-z][A-Za-z0-9 _.\-]*")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_YAML_RESERVED = {"yes", "no", "y", "n", "true", "false", "on", "off", "null", "none", "~"}


def yaml_scalar(value: Any) -> str:
    """Format a scalar for a hand-written YAML card (plain where safe, else JSON-quoted)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.2e}" if value and abs(value) < 1e-3 else repr(value)
        if "." not in text and "e" in text:  # PyYAML's YAML 1.1 floats need a dot
            text = text.replace("e", ".0e", 1)
        return text
    text = str(value)
    if _PLAIN_YAML.fullmatch(text) and text.lower() not in _YAML_RESERVED and not text.endswith(" "):
        return text
    return json.dumps(text, ensure_ascii=False)


def yaml_flow(value: Any) -> str:
    """Format a value on one line: ``[a, b]``, ``{key: v, "file.ext": v}`` or a scalar."""
    if isinstance(value, Mapping):
        keys = (k if _PLAIN_KEY.fullmatch(k) else json.dumps(k) for k in value)
        return "{" + ", ".join(f"{k}: {yaml_flow(v)}" for k, v in zip(keys, value.values())) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_flow(v) for v in value) + "]"
    return yaml_scalar(value)


def _commented(line: str, comment: str | None) -> str:
    if not comment:
        return line
    return f"{line.ljust(COMMENT_COLUMN - 1)} # {comment}" if len(line) < COMMENT_COLUMN - 1 else f"{line}  # {comment}"


def render_card(card: Mapping[str, Any], header: str, comments: Mapping[str, str] | None = None) -> str:
    """Render a card as commented YAML, check it parses back to ``card`` and validate it.

    ``input`` and ``outputs`` become block mappings, every other value one line.

    Parameters
    ----------
    card : mapping
        The card's fields, in the order they are written.
    header : str
        The first line's comment (which file, which script made it).
    comments : mapping of str to str, optional
        Trailing comments by key path (``"input.color"``, ``"outputs"``).

    Returns
    -------
    str

    Raises
    ------
    PrepError
        If the text does not parse back to ``card`` or the product's loader rejects it.
    """
    comments = comments or {}
    lines = [f"# {header}"]
    for key, value in card.items():
        if key in ("input", "outputs") and isinstance(value, Mapping):
            lines.append(_commented(f"{key}:", comments.get(key)))
            lines += [_commented(f"  {k}: {yaml_flow(v)}", comments.get(f"{key}.{k}")) for k, v in value.items()]
        else:
            lines.append(_commented(f"{key}: {yaml_flow(value)}", comments.get(key)))
    text = "\n".join(lines) + "\n"
    check_card_text(text, card)
    return text


def check_card_text(text: str, card: Mapping[str, Any]) -> bool:
    """Check that a rendered card parses back to its data and passes the product's schema.

    Parameters
    ----------
    text : str
        The YAML.
    card : mapping
        The data it must parse back to.

    Returns
    -------
    bool
        True when the product's loader validated it too; False where streamer is not
        importable (a conversion environment), so only the round trip was checked.

    Raises
    ------
    PrepError
        If the round trip differs or the schema rejects the card.
    """
    import yaml

    parsed = yaml.safe_load(text)
    if parsed != card:
        raise PrepError(f"internal error: the rendered card does not parse back to its data: {parsed} != {card}")
    try:
        from pydantic import ValidationError

        from streamer.detection.card import ModelCard
    except ImportError:
        return False
    try:
        ModelCard.model_validate(parsed)
    except ValidationError as exc:
        raise PrepError(f"card {card.get('file')}: rejected by streamer's schema: {exc.errors()[0]}") from None
    return True


def read_existing_card(path: Path) -> dict[str, Any]:
    """The card currently on disk as a dict; empty if absent or unreadable."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def kept_date(old_card: Mapping[str, Any], new_record: Mapping[str, Any], today: str) -> str:
    """The date to record in a card's ``conversion``: the old one when nothing else changed.

    Keeps re-runs idempotent: a card is rewritten only when the model or a recorded
    value (tool version, measured difference) really changed.

    Parameters
    ----------
    old_card : mapping
        The card on disk (empty when none).
    new_record : mapping
        The new ``conversion`` values, without ``date``.
    today : str
        ISO date to use when something changed.

    Returns
    -------
    str
    """
    old = old_card.get("conversion") if isinstance(old_card.get("conversion"), Mapping) else {}
    unchanged = {k: v for k, v in old.items() if k != "date"} == dict(new_record)
    return old["date"] if unchanged and isinstance(old.get("date"), str) else today


# --------------------------------------------------------------------------- licences


def check_apache_licence(path: Path) -> None:
    """Check that a licence file ends with the canonical Apache-2.0 text.

    Parameters
    ----------
    path : Path
        A licence file: its notice, :data:`LICENCE_SEPARATOR`, then the licence text.

    Raises
    ------
    PrepError
        If the file is missing, has no separator or the text after it is not canonical.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PrepError(f"{path}: cannot read the licence file ({exc.strerror or exc})") from None
    _, sep, licence = text.partition(LICENCE_SEPARATOR)
    if not sep:
        raise PrepError(f"{path}: no separator line between the notice and the licence text")
    if hashlib.sha256(licence.encode()).hexdigest() != APACHE_2_0_SHA256:
        raise PrepError(f"{path}: the text after the separator is not the canonical Apache-2.0 licence")


def copy_licence(name: str, out_dir: Path, *, apache: bool = True) -> bool:
    """Put a licence file from ``models/`` into ``out_dir`` (nothing to do when it is ``models/``).

    Parameters
    ----------
    name : str
        File name in ``models/`` (``LICENSE-yolox.txt``).
    out_dir : Path
        Where the model files are written.
    apache : bool
        Check that the file carries the canonical Apache-2.0 text.

    Returns
    -------
    bool
        True when the copy was (re)written.

    Raises
    ------
    PrepError
        If the licence file is missing or not canonical.
    """
    source = MODELS_DIR / name
    if apache:
        check_apache_licence(source)
    elif not source.is_file():
        raise PrepError(f"{source}: licence file not found")
    return write_if_changed(out_dir / name, source.read_bytes())


# --------------------------------------------------------------------------- models/README.md


def _markers(key: str, script: str) -> tuple[str, str]:
    return (f"<!-- begin {key}: generated by scripts/{script}; regenerate rather than edit -->\n",
            f"<!-- end {key} -->\n")


def replace_readme_section(readme: Path, key: str, script: str, body: str) -> bool:
    """Replace one generated section of ``models/README.md``, leaving the rest as it is.

    Parameters
    ----------
    readme : Path
        The README; the section sits between ``<!-- begin KEY: ... -->`` and
        ``<!-- end KEY -->`` lines.
    key : str
        Section name (``nanodet``).
    script : str
        The script that generates it (named in the begin marker).
    body : str
        The new section text.

    Returns
    -------
    bool
        True when the README was rewritten.

    Raises
    ------
    PrepError
        If the README or the section's markers are missing.
    """
    begin, end = _markers(key, script)
    try:
        text = readme.read_text(encoding="utf-8")
    except OSError as exc:
        raise PrepError(f"{readme}: cannot read ({exc.strerror or exc})") from None
    head, found, rest = text.partition(begin)
    _, found_end, tail = rest.partition(end)
    if not (found and found_end):
        raise PrepError(f"{readme}: no generated section {key!r} (lines {begin.strip()} ... {end.strip()})")
    return write_if_changed(readme, (head + begin + body.rstrip("\n") + "\n" + end + tail).encode())

