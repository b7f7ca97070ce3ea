"""The config's contract, exactly (issue 11, third round): the one-line errors with the file,
line and key path a user reads, the values each camera ends up with, durations, the size and
alias-expansion limits, and the output paths derived from the settings.

Each test's docstring names the mutants of ``streamer/config.py`` it kills (mutmut 3.8.1
names: ``streamer.config.<function>__mutmut_<n>``, methods ``xǁRunSettingsǁ<name>__mutmut_<n>``).
Everything runs in-process on real YAML files in ``tmp_path``.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from streamer.config import (
    MAX_CONFIG_BYTES,
    RunSettings,
    load_config,
    parse_seconds,
    settings_from,
)
from streamer.errors import ConfigError
from streamer.kernel_chain import Gamma


def _write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    cfg = tmp_path / name
    cfg.write_text(text, encoding="utf-8")
    return cfg


def _error(tmp_path: Path, text: str, overrides: dict | None = None) -> str:
    """The message of the ConfigError that loading ``text`` raises, with the path as ``F``."""
    cfg = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(cfg, overrides)
    return str(info.value).replace(str(cfg), "F")


# -- durations ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "seconds"), [
    ("150ms", 0.15), ("250MS", 0.25), (" 0.2s ", 0.2), ("2s", 2.0), ("2", 2.0), ("1.5", 1.5), ("0ms", 0.0),
    ("1m30s", 90.0), ("2 m", 120.0), ("2min", 120.0), ("1h30m", 5400.0), ("7d", 604800.0), ("-2s", -2.0),
])
def test_parse_seconds_values(text: str, seconds: float) -> None:
    """parse_seconds 1-20: the unit suffixes, case, spaces, the /1000 of ms and bare seconds."""
    assert parse_seconds(text) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize("text", ["1m30", " 2X ", "ms", "fast", "", "2s2"])
def test_parse_seconds_refusals_quote_the_input(text: str) -> None:
    """parse_seconds 21-25: the message, with the text as given (not stripped or lowered)."""
    with pytest.raises(ValueError) as info:
        parse_seconds(text)
    assert str(info.value) == f"expected a duration such as 150ms, 0.5s, 2m or 1h30m, got {text!r}"


def test_duration_settings_from_yaml(tmp_path: Path) -> None:
    """_duration 1-6: track_lost and max_latency take "250ms"/"2s", numbers pass unchanged, and a bad
    duration is a one-line error naming the file, line and key."""
    s = load_config(_write(tmp_path, "track_lost: 250ms\nmax_latency: 2s\n"))
    assert (s.track_lost, s.max_latency) == (0.25, 2.0)
    s = load_config(_write(tmp_path, "track_lost: 3\nmax_latency: 0.5\n"))
    assert (s.track_lost, s.max_latency) == (3.0, 0.5)
    assert settings_from({}).max_latency is None and settings_from({}).track_lost == 2.0
    assert _error(tmp_path, "source: a.mp4\ntrack_lost: 1m30\n") == \
        "F:2: track_lost: expected a duration such as 150ms, 0.5s, 2m or 1h30m, got '1m30'"
    assert load_config(_write(tmp_path, "track_lost: 1m30s\n")).track_lost == 90.0
    assert _error(tmp_path, "max_latency: -2s\n") == "F:1: max_latency: Input should be greater than 0"


# -- reading the file -------------------------------------------------------------------------

def test_file_errors(tmp_path: Path) -> None:
    """load_config 1-30: missing file, a folder, undecodable bytes: one line each, naming the path."""
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "none.yaml")
    assert str(info.value) == f"{tmp_path / 'none.yaml'}: no such config file"
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not a config file"
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"\xff\xfesource: a\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(bad))  # a str path works too
    assert str(info.value) == (f"{bad}: cannot read config ('utf-8' codec can't decode byte 0xff in "
                               "position 0: invalid start byte)")
    assert info.value.__suppress_context__


def test_size_limit_is_one_mebibyte(tmp_path: Path) -> None:
    """load_config 1-12 (size check): one byte over 1 MiB is refused with its size; exactly 1 MiB is
    read (its YAML error on line 2 proves it; the parser stops there, the padding is never parsed)."""
    head = "source: a.mp4\n: : :\n"
    cfg = _write(tmp_path, head + "#" * (MAX_CONFIG_BYTES - len(head)))
    assert cfg.stat().st_size == MAX_CONFIG_BYTES == 1 << 20
    with pytest.raises(ConfigError, match=r"^.*:2: invalid YAML: ") as info:
        load_config(cfg)
    assert "too big" not in str(info.value)
    cfg.write_text(head + "#" * (MAX_CONFIG_BYTES - len(head) + 1))
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert str(info.value) == f"{cfg}: 1048577 bytes is too big for a config file (at most 1024 KiB)"


@pytest.mark.parametrize(("text", "message"), [
    ("a: [1,\n", "F:2: invalid YAML: expected the node content, but found '<stream end>'"),
    ("source: a\n  b: c\n", "F:2: invalid YAML: mapping values are not allowed here"),
    ("source: a\n---\nconf: 1\n", "F:2: invalid YAML: but found another document"),
    ("source: !!python/object:os.system a\n",
     "F:1: invalid YAML: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object:os.system'"),
    # a control character: PyYAML's ReaderError has no mark and a two-line text
    ("source: a\nconf: 1\n\nname: \x02\n", "F:4: invalid YAML: unacceptable character #x0002: special characters are not allowed"),
    ("\nname: \x02\n", "F:2: invalid YAML: unacceptable character #x0002: special characters are not allowed"),
    ("- 1\n- 2\n", "F: the config must be a mapping of settings, got list"),
    ("3\n", "F: the config must be a mapping of settings, got int"),
])
def test_invalid_yaml_one_line(tmp_path: Path, text: str, message: str) -> None:
    """load_config 31-61: the YAML error's line (1-based), its problem text, the type name; never
    two lines (a control character used to print PyYAML's two-line text without a line)."""
    assert _error(tmp_path, text) == message


@pytest.mark.parametrize("text", ["", "# nothing\n", "null\n", "---\n"])
def test_empty_config_is_the_defaults(tmp_path: Path, text: str) -> None:
    """load_config (data None -> {}): an empty file is every default, and overrides still apply."""
    s = load_config(_write(tmp_path, text), {"conf": 0.6})
    assert s.conf == 0.6 and s.source is None and s.cameras is None and s.detect_every == 1


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    """load_config (merge): command-line overrides over the file's values, the rest kept."""
    cfg = _write(tmp_path, "source: a.mp4\nconf: 0.5\niou: 0.3\n")
    s = load_config(cfg, {"conf": 0.6, "source": "b.mp4"})
    assert (s.source, s.conf, s.iou) == ("b.mp4", 0.6, 0.3)
    assert load_config(cfg, None).conf == 0.5 and load_config(cfg, {}).conf == 0.5


# -- aliases ------------------------------------------------------------------------------------

def _alias_levels(names: str) -> str:
    """One line per name: ten zeros, then ten aliases of the line before (11, 111, 1111... values)."""
    lines = [f"{names[0]}: &{names[0]} [" + ", ".join(["0"] * 10) + "]"]
    lines += [f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]" for prev, name in pairwise(names)]
    return "\n".join(lines) + "\n"


def test_alias_bomb_names_its_line(tmp_path: Path) -> None:
    """_check_expansion 1-30: six levels of ten aliases refused at the level that passes 100000
    values, with that line, before anything is built."""
    text = "source: a.mp4\n" + _alias_levels("abcde")
    assert _error(tmp_path, text) == "F:6: YAML aliases expand to more than 100000 values (an alias bomb?)"


def _expanding_to(total: int) -> str:
    """A config whose YAML stands for ``total`` values by the count of _check_expansion:
    the root mapping (1) + key (1) + a sequence (1) of 99 aliases of 1000 values and scalars."""
    scalars = total - 3 - 99 * 1000
    return ("x: [&a [" + ", ".join(["0"] * 999) + "], " + ", ".join(["*a"] * 98) + ", "
            + ", ".join(["0"] * scalars) + "]\n")


def test_alias_budget_boundary(tmp_path: Path) -> None:
    """_check_expansion (``>`` vs ``>=``, the memo, the sum): exactly 100000 values pass (the error
    is then the unknown key), 100001 are refused on the root's line."""
    assert _error(tmp_path, _expanding_to(100_000)) == "F:1: x: unknown key"
    assert _error(tmp_path, _expanding_to(100_001)) == \
        "F:1: YAML aliases expand to more than 100000 values (an alias bomb?)"


def test_alias_bomb_in_keys(tmp_path: Path) -> None:
    """_check_expansion 16: aliases used as mapping keys count too (refused before PyYAML builds
    them; counted as one value each, the file would get "found unhashable key" instead)."""
    text = "source: a.mp4\n" + _alias_levels("abcd") + "x: {" + ", ".join(["*d : 1"] * 10) + "}\n"
    assert _error(tmp_path, text) == "F:6: YAML aliases expand to more than 100000 values (an alias bomb?)"


@pytest.mark.parametrize(("text", "message"), [
    ("source: a\nx: &a\n  - *a\n", "F:2: a YAML alias refers to itself"),
    ("source: a\n\nx: &a {y: *a}\n", "F:3: a YAML alias refers to itself"),
])
def test_recursive_alias(tmp_path: Path, text: str, message: str) -> None:
    """_check_expansion (active set): an alias inside its own anchor is refused with the line."""
    assert _error(tmp_path, text) == message


def test_shared_aliases_are_fine(tmp_path: Path) -> None:
    """_check_expansion (memo by node): an anchor used twice is not a loop."""
    s = load_config(_write(tmp_path, "classes: &c [person, car]\ncameras:\n  a: {source: a.mp4, classes: *c}\n"
                                     "  b: {source: b.mp4, classes: *c}\n"))
    assert [c.classes for c in s.per_camera()] == [["person", "car"], ["person", "car"]]


# -- validation errors: file, line, key path ---------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("source: a\nconf:\n  2\n", "F:2: conf: Input should be less than or equal to 1"),  # the key's line
    ("conf: 2\n\niou: -1\n", ("F:1: conf: Input should be less than or equal to 1; "
                             "F:3: iou: Input should be greater than or equal to 0")),
    ("source: a\nconfidence: 0.7\n", "F:2: confidence: unknown key (did you mean 'conf'?)"),
    ("source: a\nbogus: 1\n", "F:2: bogus: unknown key"),
    ("preset: warp\n", ("F:1: preset: unknown x264 preset 'warp' (one of ultrafast, superfast, veryfast, "
                       "faster, fast, medium, slow, slower, veryslow)")),
    ("source: a\nserve: 'abc:def'\n", "F:2: serve: expected [HOST:]PORT with PORT 0-65535 (e.g. 8080 or 0.0.0.0:8080)"),
    ("# settings\nsource: a\ndetect_min_motion: 0.1\n",
     "F:2: detect_min_motion needs a motion step in kernels (e.g. --kernels motion=background)"),
    ("detect: false\nzones:\n  - {name: z, polygon: [[0, 0], [10, 0], [10, 10]]}\n",
     "F:1: zones, lines, masks and tracking need the detector (drop --no-detect / detect: false)"),
    ("source: a\nkernels: denoise=gaussian:ksize=4\n",
     "F:2: kernels: kernel step 'denoise' (#1): ksize: Value error, ksize must be odd, got 4"),
    ("source: a\nkernels:\n\n  - gamma: 0.9\n\n  - denoise: {ksize: 4}\n",
     "F:6: kernels: kernel step 'denoise' (#2): ksize: Value error, ksize must be odd, got 4"),
    ("source: a\nkernels: sharpen\n", ("F:2: kernels: unknown kernel step 'sharpen' (known: denoise, white_balance, "
                                      "edges, gamma, brightness, contrast, saturation, clahe, motion, resize)")),
    ("bitrate: fast\n", "F:1: bitrate: expected a bitrate such as 2M, 800k or 1500000, got 'fast'"),
    ("classes: 3\n", "F:1: classes: Input should be a valid list"),
])
def test_top_level_errors(tmp_path: Path, text: str, message: str) -> None:
    """_format_errors 1-60, _line_of 1-30, _preset, _serve, _parse_kernels, the model validators:
    each error is ``FILE:LINE: KEY: what``, several joined by "; ", "Value error, " dropped, a kernel
    step's own line, the root's line for a whole-model error."""
    assert _error(tmp_path, text) == message


@pytest.mark.parametrize(("text", "message"), [
    ("source: a\nevents:\n  retain:\n    max_bytez: 3\n", "F:4: events.retain.max_bytez: unknown key (did you mean 'max_bytes'?)"),
    ("source: a\nevents:\n  bogus: 1\n", "F:3: events.bogus: unknown key"),
    ("source: a\nevents:\n  retain:\n    max_age: -1\n", "F:4: events: Input should be greater than 0"),
    ("source: a\nevents: 3\n", "F:2: events: Input should be a valid dictionary or instance of EventsConfig"),
    ("source: a\nprivacy:\n  methd: blur\n", "F:3: privacy.methd: unknown key (did you mean 'method'?)"),
    ("source: a\noutputs:\n  - publish: rtsp://x/y\n    bitrat: 3M\n", "F:4: outputs.0.bitrat: unknown key (did you mean 'bitrate'?)"),
    ("source: a\noutputs:\n  - publish: rtsp://x/y\n    bitrate: zz\n",
     "F:4: outputs.0: expected a bitrate such as 2M, 800k or 1500000, got 'zz'"),
    ("source: a\nzones:\n  - name: z\n    polgon: [[0, 0], [1, 0], [1, 1]]\n",
     "F:3: zones.0.polygon: Field required; F:4: zones.0.polgon: unknown key (did you mean 'polygon'?)"),
    ("source: a\nlines:\n  - name: l\n", "F:3: lines.0.start: Field required; F:3: lines.0.end: Field required"),
    ("source: a\nnotify:\n  - webhook: http://h/x\n    min_intervl: 2\n",
     "F:4: notify.0.min_intervl: unknown key (did you mean 'min_interval'?)"),
])
def test_nested_errors(tmp_path: Path, text: str, message: str) -> None:
    """_format_errors (extra_forbidden inside a block, missing fields), _nested_fields 1-25: the
    whole key path and the suggestion from that block's own fields; a missing field is named
    (it used to read "zones.0: Field required", the line being the item's)."""
    assert _error(tmp_path, text) == message


def test_option_errors_name_the_origin() -> None:
    """_format_errors with no YAML (origin only, no line), settings_from 1-5."""
    with pytest.raises(ConfigError) as info:
        settings_from({"conf": 2, "confidence": 1})
    assert str(info.value) == ("options: conf: Input should be less than or equal to 1; "
                               "options: confidence: unknown key (did you mean 'conf'?)")
    with pytest.raises(ConfigError) as info:
        settings_from({"detect_every": 0}, origin="stream()")
    assert str(info.value) == "stream(): detect_every: Input should be greater than or equal to 1"
    with pytest.raises(ConfigError) as info:
        settings_from({"zones": [{"name": "z"}]})
    assert str(info.value) == "options: zones.0.polygon: Field required"


# -- cameras ------------------------------------------------------------------------------------

CAMERAS = """\
source: top.mp4
conf: 0.5
classes: [person]
kernels:
  - gamma: 0.8
cameras:
  door:
    source: door.mp4
    conf: 0.7
  yard:
    source: rtsp://cam/yard
    classes: [car]
    detect_every: 3
"""


def test_per_camera_merges_defaults_top_level_and_camera(tmp_path: Path) -> None:
    """per_camera 1-40: each camera gets the top-level values it does not set, its own over them,
    its name from its key, its own source (never the top-level one), the defaults otherwise, and no
    cameras of its own; the order of the file."""
    s = load_config(_write(tmp_path, CAMERAS))
    door, yard = s.per_camera()
    assert (door.name, door.source, door.conf, door.classes, door.detect_every) == ("door", "door.mp4", 0.7, ["person"], 1)
    assert (yard.name, yard.source, yard.conf, yard.classes, yard.detect_every) == ("yard", "rtsp://cam/yard", 0.5, ["car"], 3)
    assert door.kernels == yard.kernels == [Gamma(value=0.8)]
    assert door.cameras is None and yard.cameras is None and door.iou == 0.45
    # Command-line overrides replace the top level; a camera's own value still wins.
    door, yard = load_config(_write(tmp_path, CAMERAS), {"conf": 0.9}).per_camera()
    assert (door.conf, yard.conf) == (0.7, 0.9)
    single = settings_from({"source": "a.mp4"})
    assert single.per_camera() == [single] and single.per_camera()[0] is single


def test_located_names_the_line_of_the_key(tmp_path: Path) -> None:
    """located 1-15, per_camera (``_where`` copied), load_config's ``_where``, _keys 1-10: an error
    found later names the camera's own line for a key it sets, else the top-level line; unknown
    keys and messages without a key are returned as they are."""
    s = load_config(_write(tmp_path, CAMERAS))
    cfg = tmp_path / "run.yaml"
    door, yard = s.per_camera()
    err = ConfigError("classes: unknown class 'zebra'")
    assert str(s.located(err)) == f"{cfg}:3: classes: unknown class 'zebra'"
    assert str(door.located(err)) == f"{cfg}:3: classes: unknown class 'zebra'"
    assert str(yard.located(err)) == f"{cfg}:12: classes: unknown class 'zebra'"
    assert str(door.located(ConfigError("conf: x"))) == f"{cfg}:9: conf: x"
    assert str(yard.located(ConfigError("conf: x"))) == f"{cfg}:2: conf: x"
    assert str(yard.located(ConfigError("detect_every: x: y"))) == f"{cfg}:13: detect_every: x: y"
    for plain in (ConfigError("iou: too low"), ConfigError("no key here")):
        assert door.located(plain) is plain
    assert isinstance(door.located(err), ConfigError)
    fresh = settings_from({"classes": ["person"]})
    assert fresh.located(err) is err  # not from a file: no line to add


@pytest.mark.parametrize(("text", "message"), [
    ("source: a\ncameras:\n  c1:\n    source: x\n    conf: 3\n", "F:5: cameras.c1.conf: Input should be less than or equal to 1"),
    ("source: a\ncameras:\n  c1:\n    source: x\n    confx: 3\n", "F:5: cameras.c1.confx: unknown key (did you mean 'conf'?)"),
    ("source: a\ncameras:\n  c1:\n    source: x\n    events:\n      retain:\n        max_bytez: 3\n",
     "F:7: cameras.c1.events.retain.max_bytez: unknown key (did you mean 'max_bytes'?)"),
    ("source: a\ncameras:\n  c1:\n    source: x\n    kernels:\n      - gamma: 1\n      - denoise: {ksize: 4}\n",
     "F:7: cameras.c1.kernels: kernel step 'denoise' (#2): ksize: Value error, ksize must be odd, got 4"),
    ("detect: false\ncameras:\n  c0: {source: y}\n  c1:\n    source: x\n    zones:\n      - {name: z, polygon: [[0, 0], [10, 0], [10, 10]]}\n",
     "F:4: cameras.c1: zones, lines, masks and tracking need the detector (drop --no-detect / detect: false)"),
    ("source: a\ncameras:\n  c1:\n    source: x\n    lines:\n      - name: l\n",
     "F:6: cameras.c1.lines.0.start: Field required; F:6: cameras.c1.lines.0.end: Field required"),
    ("source: a\ncameras:\n  c1: 3\n", "F:3: cameras: Input should be a valid dictionary"),
    # a camera name ending in X or a dot-like character is kept whole (key path and line)
    ("detect: false\ncameras:\n  GATEX:\n    source: x\n    zones:\n      - {name: z, polygon: [[0, 0], [10, 0], [10, 10]]}\n",
     "F:3: cameras.GATEX: zones, lines, masks and tracking need the detector (drop --no-detect / detect: false)"),
    ("cameras:\n  XGATEX:\n    source: x\n    conf: 3\n", "F:4: cameras.XGATEX.conf: Input should be less than or equal to 1"),
])
def test_camera_errors_name_file_line_and_camera(tmp_path: Path, text: str, message: str) -> None:
    """load_config (each camera validated with the top level), _format_errors with a prefix (25, 33:
    the prefix's dots stripped, nothing else): the path starts with cameras.NAME. and the line is
    the camera's own key's."""
    assert _error(tmp_path, text) == message


def test_per_camera_refusals(tmp_path: Path) -> None:
    """per_camera 20-60: nested cameras, the server's keys (named in sorted order), a camera
    without its own source, a bad value when built without a file ("config" as the origin)."""
    def refused(cameras: dict) -> str:
        with pytest.raises(ConfigError) as info:
            RunSettings(source="top.mp4", cameras=cameras).per_camera()
        return str(info.value)

    assert refused({"c1": {"source": "x", "cameras": {}}}) == "cameras.c1: cameras cannot be nested"
    assert refused({"c1": {"source": "x", "serve": 8080}}) == \
        "cameras.c1.serve: set serve at the top level (one server for every camera)"
    assert refused({"c1": {"source": "x", "token": "t", "max_viewers": 3}}) == \
        "cameras.c1.max_viewers: set max_viewers at the top level (one server for every camera)"
    assert refused({"c1": {"source": "x"}, "c2": {"conf": 0.4}}) == "cameras.c2: no source"
    assert refused({"ok": {"source": "x"}, "c1": {"source": "x", "conf": 3}}) == \
        "config: cameras.c1.conf: Input should be less than or equal to 1"
    # The same through a file: the top-level source is not a camera's.
    s = load_config(_write(tmp_path, "source: top.mp4\ncameras:\n  c1: {conf: 0.4}\n"))
    with pytest.raises(ConfigError, match=r"^cameras\.c1: no source$"):
        s.per_camera()


# -- paths and device options ---------------------------------------------------------------------------

def test_events_for_paths() -> None:
    """events_for 1-25, _folder_and_stem: off -> None; beside a file; named after the camera;
    events.dir/NAME; out_dir; a live source in the current folder; the stem of ``out``."""
    assert settings_from({}).events_for("/d/clip.mp4") is None
    on = settings_from({"events": True})
    assert on.events_for("/d/clip.mp4") == (Path("/d/clip.events.jsonl"), Path("/d/clip.events"))
    named = settings_from({"events": True, "name": "door"})
    assert named.events_for("/d/clip.mp4") == (Path("/d/door.events.jsonl"), Path("/d/door.events"))
    shared = settings_from({"events": {"dir": "/var/ev"}, "name": "door", "out_dir": "/o"})
    assert shared.events_for("rtsp://cam/x") == (Path("/o/door.events.jsonl"), Path("/var/ev/door"))
    live = settings_from({"events": True})
    assert live.events_for("rtsp://cam/yard") == (Path("cam_yard.events.jsonl"), Path("cam_yard.events"))
    out = settings_from({"events": True, "out": "/k/a.annotated.mp4"})
    assert out.events_for("/d/clip.mp4") == (Path("/k/a.events.jsonl"), Path("/k/a.events"))
    bare = settings_from({"out": "/k/.annotated.mp4", "name": "cam"})
    assert bare.outputs_for("/d/clip.mp4") == (Path("/k/.annotated.mp4"), Path("/k/cam.detections.jsonl"))
    assert settings_from({"no_video": True, "jsonl": "/j.jsonl"}).outputs_for("/d/c.mp4") == (None, Path("/j.jsonl"))


def test_device_options() -> None:
    """device_options 1-15: V4L2 options by FFmpeg's names, the rate without a trailing .0, unset
    ones left out."""
    assert settings_from({}).device_options() == {}
    s = settings_from({"video_size": "1280x720", "fps": 30, "pixel_format": "mjpeg"})
    assert s.device_options() == {"video_size": "1280x720", "framerate": "30", "input_format": "mjpeg"}
    assert settings_from({"fps": 7.5}).device_options() == {"framerate": "7.5"}


def test_small_validators() -> None:
    """_split_classes, _one_or_more, _privacy, tracking: the shapes the CLI and YAML give."""
    assert settings_from({"classes": " person, ,car "}).classes == ["person", "car"]
    assert settings_from({"classes": [1, "car"]}).classes == ["1", "car"]
    assert settings_from({"publish": "rtsp://h/x"}).publish == ["rtsp://h/x"]
    assert settings_from({"privacy": True}).privacy is not None
    assert settings_from({"privacy": False}).privacy is None
    assert settings_from({}).tracking is False
    assert settings_from({"events": True}).tracking is True
    assert settings_from({"events": True, "track": False}).tracking is False
    assert settings_from({"lines": [{"name": "l", "start": [0, 0], "end": [10, 10]}]}).tracking is True
