"""Object detection: ONNX models described by cards, decoded per family, NMS, Detections."""

from __future__ import annotations

from streamer.detection.bundled import DEFAULT_MODEL, bundled_models, resolve_model
from streamer.detection.card import ModelCard, load_card
from streamer.detection.detections import Detections
from streamer.detection.detector import Detector
from streamer.detection.inspect import describe_model
from streamer.detection.nms import batched_nms
from streamer.detection.session import ProviderChoice

__all__ = [
    "DEFAULT_MODEL",
    "Detections",
    "Detector",
    "ModelCard",
    "ProviderChoice",
    "batched_nms",
    "bundled_models",
    "describe_model",
    "load_card",
    "resolve_model",
]
