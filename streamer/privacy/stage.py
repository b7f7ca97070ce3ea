"""The privacy stage: hide faces (and persons) on the picture every output gets.

It sits after the detector and the analytics (which see the real picture: a blurred face
would still be a person, but the tracker needs no faces) and before the overlay, so the
annotated video, network outputs, live views, snapshots, clips and the Python API's
``original`` picture are all made from the hidden one: no output ever gets a raw frame. The
edge map the kernel stage may have made (blended onto the picture by the overlay) is cleared
inside the hidden regions too, as it would trace the face.

Faces come from CenterFace (``models/centerface.onnx``, through the product's
:class:`~streamer.detection.Detector`: same ONNX Runtime session set-up and device choice),
run on every frame: reusing boxes between frames would leave a moving face visible. Why
this is a stage and not a ``--kernels`` step: kernel steps run before the detector, in
Numba only (``kernels/`` never loads a model), and their output is what the detector sees.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from streamer.config import RunSettings
from streamer.detection import Detector
from streamer.detection.bundled import models_dir
from streamer.errors import ConfigError
from streamer.frames import Frame
from streamer.privacy.config import PrivacyConfig

#: The face detector's file in ``streamer.models`` (see models/README.md).
FACE_MODEL = "centerface.onnx"
#: CenterFace's authors suppress overlapping faces at IoU 0.3.
FACE_IOU = 0.3
#: Box-blur passes: three box filters of radius r are within a few percent of a Gaussian of
#: sigma sqrt(r (r + 1)) ~ r, at a cost that does not depend on r.
BLUR_PASSES = 3


def grow(boxes: np.ndarray, margin: float) -> np.ndarray:
    """Boxes (N, 4) x1, y1, x2, y2 grown by ``margin`` x their width / height on every side.

    >>> grow(np.array([[10.0, 10.0, 20.0, 30.0]]), 0.1).tolist()
    [[9.0, 8.0, 21.0, 32.0]]
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    size = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    return boxes + size * margin * np.array([-1.0, -1.0, 1.0, 1.0])


def input_size(width: int, height: int, most: int = 672, *, step: int = 32) -> tuple[int, int]:
    """The face detector's input for a ``width`` x ``height`` frame: its aspect, at most ``most``
    pixels wide (before rounding), never larger than the frame, sides rounded up to ``step``.

    >>> input_size(1280, 720), input_size(176, 144), input_size(1920, 1080, 480)
    ((672, 384), (192, 160), (480, 288))
    """
    scale = min(1.0, most / width)
    return (-(-round(width * scale) // step) * step, -(-round(height * scale) // step) * step)


def blur_boxes(image: np.ndarray, boxes: np.ndarray, *, strength: float) -> np.ndarray:
    """Blur each region of ``image`` (H, W, 3) uint8 in place; only its own pixels are read.

    Three passes of ``cv2.blur`` with radius ``max(1, round(strength * shorter side))`` and
    replicated borders, on a copy of the region (so nothing outside it mixes in). OpenCV,
    not a Numba kernel, because it is twice as fast (see ``kernels/_anonymize.py``).
    """
    from streamer.kernels._anonymize import pixel_regions  # loads Numba: only when faces are hidden

    for x0, y0, x1, y1 in pixel_regions(boxes, image.shape[1], image.shape[0]).tolist():
        if x1 <= x0 or y1 <= y0:
            continue
        radius = max(1, round(min(x1 - x0, y1 - y0) * strength))
        region = np.ascontiguousarray(image[y0:y1, x0:x1])
        for _ in range(BLUR_PASSES):
            region = cv2.blur(region, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REPLICATE)
        image[y0:y1, x0:x1] = region
    return image


class PrivacyStage:
    """Finds faces (and takes the detector's persons) and hides them, frame by frame.

    Parameters
    ----------
    config : PrivacyConfig
        What to hide and how.
    faces : Detector or None
        The face detector (None when only persons are hidden); used from this stage's
        thread only.
    person_ids : sequence of int
        The detector's class ids hidden as persons (empty unless ``config.persons``).

    Attributes
    ----------
    hidden : int
        Regions hidden so far (faces and persons).
    """

    name = "privacy"

    def __init__(self, config: PrivacyConfig, faces: Detector | None, person_ids: tuple[int, ...] = ()) -> None:
        self.config = config
        self.faces = faces
        self.person_ids = np.array(person_ids, np.int32)
        self.hidden = 0
        self._lock = threading.Lock()
        self._frame_size: tuple[int, int] | None = None

    def start(self) -> None:
        import numba  # the face detector's preprocess is a kernel

        numba.set_num_threads(1)
        if self.faces is not None:
            self.faces.warmup()  # in this thread: the detector is confined to it

    def regions(self, frame: Frame) -> np.ndarray:
        """What to hide on ``frame``: boxes (N, 4) float64 in pixels, margin added."""
        found = []
        if self.faces is not None:
            if self._frame_size != (frame.width, frame.height):
                self._frame_size = (frame.width, frame.height)
                self.faces.set_input_size(*input_size(frame.width, frame.height, self.config.input_width))
            found.append(self.faces.detect(frame.image).xyxy)
        dets = frame.detections
        if self.person_ids.size and dets is not None and len(dets):
            found.append(dets.xyxy[np.isin(dets.class_id, self.person_ids)])
        boxes = np.concatenate(found) if found else np.empty((0, 4), np.float32)
        return grow(boxes, self.config.margin)

    def process(self, frame: Frame) -> Frame:
        from streamer.kernels._anonymize import pixel_regions, pixelate_boxes  # Numba, only where used

        boxes = self.regions(frame)
        if len(boxes):
            image = np.ascontiguousarray(frame.image)
            if self.config.method == "pixelate":
                pixelate_boxes(image, boxes, cell=self.config.strength)
            else:
                blur_boxes(image, boxes, strength=self.config.strength)
            frame.image = image
            if frame.edges is not None:
                for x0, y0, x1, y1 in pixel_regions(boxes, frame.width, frame.height).tolist():
                    frame.edges[y0:y1, x0:x1] = 0
            with self._lock:
                self.hidden += len(boxes)
        return frame

    def finish(self) -> None:
        pass


def build_privacy(settings: RunSettings, labels: tuple[str, ...] | list[str] = ()) -> list[PrivacyStage]:
    """The privacy stage a camera's settings ask for: ``[stage]``, or ``[]`` without ``privacy``.

    The face model is loaded here, so a missing file or an unusable device fails before
    the run starts.

    Raises
    ------
    ConfigError
        ``privacy.persons`` without a detector, or with one that has no ``person`` class.
    ModelError, DeviceError
        As :class:`~streamer.detection.Detector`.
    """
    config = settings.privacy
    if config is None:
        return []
    person_ids: tuple[int, ...] = ()
    if config.persons:
        person_ids = tuple(i for i, label in enumerate(labels) if label.lower() == "person")
        if not settings.detect or not person_ids:
            raise settings.located(ConfigError(
                "privacy: persons: true needs the detector and a model with a 'person' class"))
    faces = None
    if config.faces:
        faces = Detector(models_dir() / FACE_MODEL, device=settings.device, conf=config.conf, iou=FACE_IOU,
                         threads=settings.threads)
    return [PrivacyStage(config, faces, person_ids)]
