"""Class names used when a model carries none of its own."""

from __future__ import annotations

#: The 80 COCO detection classes in the order every COCO-trained detector uses
#: (the 91-id paper numbering with the 11 unused ids removed).
COCO80: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
    "boat", "traffic light", "fire hydrant", "stop sign", "parking meter", "bench",
    "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
    "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis",
    "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard",
    "surfboard", "tennis racket", "bottle", "wine glass", "cup", "fork", "knife",
    "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot",
    "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
    "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)


def default_labels(num_classes: int) -> tuple[str, ...]:
    """Return COCO names for an 80-class model, else ``class_0 .. class_<n-1>``.

    Parameters
    ----------
    num_classes : int
        Number of class scores the model outputs.

    Returns
    -------
    tuple of str, length ``num_classes``
    """
    if num_classes == len(COCO80):
        return COCO80
    return tuple(f"class_{i}" for i in range(num_classes))
