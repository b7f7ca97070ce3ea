"""Settings and the YAML config: validation with the key and line at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.config import load_config, settings_from
from streamer.errors import ConfigError
from streamer.kernel_chain import Denoise, Edges, Gamma, WhiteBalance, format_kernels, parse_kernels


def test_defaults_and_outputs_beside_source() -> None:
    s = settings_from({"source": "/data/clip.mp4"})
    assert s.conf == 0.35 and s.detect_every == 1 and s.device == "auto"
    assert s.outputs_for("/data/clip.mp4") == (Path("/data/clip.annotated.mp4"), Path("/data/clip.detections.jsonl"))
    s = settings_from({"source": "/data/clip.mp4", "out": "/out/x.mp4"})
    assert s.outputs_for("/data/clip.mp4") == (Path("/out/x.mp4"), Path("/out/x.detections.jsonl"))


def test_classes_from_comma_string() -> None:
    assert settings_from({"classes": "person, car"}).classes == ["person", "car"]


def test_kernel_text_and_yaml_forms_agree() -> None:
    text = parse_kernels("denoise=gaussian:ksize=7,white_balance=grayworld,gamma=0.8,edges=sobel:threshold=80:overlay=false")
    yaml_form = parse_kernels([
        {"denoise": {"method": "gaussian", "ksize": 7}},
        {"white_balance": "grayworld"},
        {"gamma": 0.8},
        "edges=sobel:threshold=80:overlay=false",
    ])
    assert text == yaml_form
    assert text == [Denoise(ksize=7), WhiteBalance(), Gamma(value=0.8), Edges(threshold=80, overlay=False)]
    assert parse_kernels(format_kernels(text)) == text
    assert parse_kernels("none") == [] and parse_kernels("") == []


@pytest.mark.parametrize(
    ("spec", "phrase"),
    [
        ("sharpen=3", "unknown kernel step 'sharpen'"),
        ("denoise=gaussian:ksize=4", "ksize must be odd"),
        ("gamma=-1", "gamma"),
        ("denoise=gaussian:radius=3", "radius"),
        ("edges=sobel:threshold", "not key=value"),
        ("denoise=median", "denoise"),
    ],
)
def test_bad_kernel_specs(spec: str, phrase: str) -> None:
    with pytest.raises(ConfigError, match=phrase):
        parse_kernels(spec)


def test_option_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"conf: Input should be less than or equal to 1"):
        settings_from({"conf": 1.5})
    with pytest.raises(ConfigError, match="preset: unknown x264 preset 'warp'"):
        settings_from({"preset": "warp"})


def test_yaml_config_and_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "source: clip.mp4\nconf: 0.5\nclasses: [person, car]\nkernels:\n  - gamma: 0.9\n  - edges: {threshold: 40}\n"
    )
    s = load_config(cfg, {"conf": 0.6})
    assert s.conf == 0.6 and s.classes == ["person", "car"] and s.source == "clip.mp4"
    assert s.kernels == [Gamma(value=0.9), Edges(threshold=40)]


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("source: clip.mp4\nconf: 0.5\nconfidence: 0.7\n")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert str(info.value) == f"{cfg}:3: confidence: unknown key (did you mean 'conf'?)"


def test_bad_value_line(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("source: clip.mp4\n\ndetect_every: 0\n")
    with pytest.raises(ConfigError, match=rf"{cfg}:3: detect_every: Input should be greater than or equal to 1"):
        load_config(cfg)


def test_bad_kernel_in_yaml_names_line(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("source: a.mp4\nkernels:\n  - denoise: {ksize: 4}\n")
    # The step's own line (3), not the "kernels:" line.
    with pytest.raises(ConfigError, match=rf"{cfg}:3: kernels: .*ksize must be odd"):
        load_config(cfg)


@pytest.mark.parametrize(
    ("text", "phrase"),
    [("a: [1,\n", "invalid YAML"), ("- 1\n- 2\n", "must be a mapping")],
)
def test_broken_yaml(tmp_path: Path, text: str, phrase: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=phrase):
        load_config(cfg)


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "none.yaml")
