"""Detections of one frame as a struct of arrays (the layout of supervision's ``Detections``).

One row per object: keeping parallel arrays instead of a list of objects lets filters,
NMS, trackers and drawing work on whole columns with NumPy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np


class Detection(NamedTuple):
    """One row of :class:`Detections`, as yielded by iteration."""

    xyxy: np.ndarray
    """shape (4,), float32: x1, y1, x2, y2 in pixels."""
    confidence: float
    class_id: int
    tracker_id: int | None


def _check_column(name: str, value: object, dtype: type, shape_tail: tuple[int, ...]) -> int:
    """Check one column's type, dtype and trailing shape; return its length."""
    layout = "(N, " + ", ".join(map(str, shape_tail)) + ")" if shape_tail else "(N,)"
    expected = f"Detections.{name} must be a {np.dtype(dtype)} array of shape {layout}"
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{expected}, got {type(value).__name__}")
    if value.dtype != dtype:
        raise TypeError(f"{expected}, got dtype {value.dtype}")
    if value.ndim != 1 + len(shape_tail) or value.shape[1:] != shape_tail:
        raise ValueError(f"{expected}, got shape {value.shape}")
    return value.shape[0]


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes, scores and classes of the objects found in one frame.

    Parameters
    ----------
    xyxy : numpy.ndarray, shape (N, 4), float32
        Corners x1, y1, x2, y2 in pixels (continuous coordinates: a box covering the
        whole W x H image is ``[0, 0, W, H]``).
    confidence : numpy.ndarray, shape (N,), float32
        Detector score in [0, 1].
    class_id : numpy.ndarray, shape (N,), int32
        Index into the detector's labels.
    tracker_id : numpy.ndarray, shape (N,), int64, or None
        Track identity, filled in by a tracker; None until then.

    Raises
    ------
    TypeError
        If a column is not an ndarray of the dtype above.
    ValueError
        If a column's shape is wrong or the columns differ in length.

    Notes
    -----
    Instances are immutable; use :func:`dataclasses.replace` to attach tracker ids.
    The arrays are not copied, so do not modify them in place after construction.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray | None = None

    def __post_init__(self) -> None:
        lengths = {
            "xyxy": _check_column("xyxy", self.xyxy, np.float32, (4,)),
            "confidence": _check_column("confidence", self.confidence, np.float32, ()),
            "class_id": _check_column("class_id", self.class_id, np.int32, ()),
        }
        if self.tracker_id is not None:
            lengths["tracker_id"] = _check_column("tracker_id", self.tracker_id, np.int64, ())
        if len(set(lengths.values())) > 1:
            found = ", ".join(f"{k}={v}" for k, v in lengths.items())
            raise ValueError(f"Detections columns differ in length: {found}")

    @classmethod
    def empty(cls) -> Detections:
        """Return detections with no rows (and no tracker ids)."""
        return cls(
            xyxy=np.empty((0, 4), np.float32),
            confidence=np.empty(0, np.float32),
            class_id=np.empty(0, np.int32),
        )

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        """Concatenate detections row-wise, in order.

        Parameters
        ----------
        parts : sequence of Detections
            Either all with tracker ids or all without (empty parts are ignored for
            this rule).

        Returns
        -------
        Detections
            ``sum(len(p) for p in parts)`` rows; :meth:`empty` for no parts.

        Raises
        ------
        ValueError
            If some non-empty parts have tracker ids and others do not.
        """
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        tracker_ids = [p.tracker_id for p in parts if p.tracker_id is not None]
        if 0 < len(tracker_ids) < len(parts):
            raise ValueError("Detections.merge: some parts have tracker_id and others do not")
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            tracker_id=np.concatenate(tracker_ids) if tracker_ids else None,
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __iter__(self) -> Iterator[Detection]:
        for i in range(len(self)):
            yield Detection(
                xyxy=self.xyxy[i],
                confidence=float(self.confidence[i]),
                class_id=int(self.class_id[i]),
                tracker_id=None if self.tracker_id is None else int(self.tracker_id[i]),
            )

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Detections:
        """Select rows.

        Parameters
        ----------
        index : int, slice, integer array (K,) or boolean mask (N,)
            An int selects one row (the result still has length 1, like supervision).

        Returns
        -------
        Detections
            The selected rows, in the order given.

        Raises
        ------
        IndexError
            If a boolean mask's length differs from ``len(self)`` or an index is out
            of range.
        TypeError
            If ``index`` is of another kind (e.g. a float array).
        """
        if isinstance(index, (int, np.integer)):
            index = np.array([index])
        elif not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype == bool:
                if index.shape != (len(self),):
                    raise IndexError(
                        f"boolean mask of shape {index.shape} for {len(self)} detections"
                    )
            elif index.size == 0:
                index = index.astype(np.intp)
            elif not np.issubdtype(index.dtype, np.integer) or index.ndim != 1:
                raise TypeError(
                    "Detections index must be an int, a slice, a 1-D integer array or a "
                    f"boolean mask, got {index.dtype} array of shape {index.shape}"
                )
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        if (self.tracker_id is None) != (other.tracker_id is None):
            return False
        return (
            np.array_equal(self.xyxy, other.xyxy)
            and np.array_equal(self.confidence, other.confidence)
            and np.array_equal(self.class_id, other.class_id)
            and (self.tracker_id is None or np.array_equal(self.tracker_id, other.tracker_id))
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside

    @property
    def area(self) -> np.ndarray:
        """Box areas in square pixels, shape (N,), float32 (0 for inverted boxes)."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def to_records(self, labels: Sequence[str]) -> list[dict[str, Any]]:
        """Return one JSON-ready dict per row.

        Parameters
        ----------
        labels : sequence of str
            Class names indexed by ``class_id`` (e.g. ``Detector.labels``).

        Returns
        -------
        list of dict
            ``{"label", "class_id", "score", "box": [x1, y1, x2, y2]}`` with box
            coordinates rounded to 2 decimals and the score to 4; ``"tracker_id"`` is
            added when tracker ids are present.

        Raises
        ------
        IndexError
            If a ``class_id`` has no entry in ``labels``.
        """
        records = []
        for row in self:
            if not 0 <= row.class_id < len(labels):
                raise IndexError(f"class_id {row.class_id} has no label ({len(labels)} labels)")
            record: dict[str, Any] = {
                "label": labels[row.class_id],
                "class_id": row.class_id,
                "score": round(row.confidence, 4),
                "box": [round(float(v), 2) for v in row.xyxy],
            }
            if row.tracker_id is not None:
                record["tracker_id"] = row.tracker_id
            records.append(record)
        return records
