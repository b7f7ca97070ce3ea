"""Detections of one frame as a struct of arrays (the layout of supervision's ``Detections``).

One row per object: keeping parallel arrays instead of a list of objects lets filters,
NMS, trackers and drawing work on whole columns with NumPy.

Interchange (no extra dependency is imported until asked for)::

    sv_dets = dets.to_supervision()                  # supervision.Detections
    dets = Detections.from_supervision(sv_dets)      # and back
    df = pandas.DataFrame(dets.to_records())         # one row per object
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
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
    """Check one column's type, dtype and trailing shape; return its length.

    The message is only built on failure: formatting it on every call cost ~8 us a column,
    ~40 us for each ``Detections`` the pipeline makes (measured by the tracking work).
    """
    if isinstance(value, np.ndarray) and value.dtype == dtype and value.shape[1:] == shape_tail \
            and value.ndim == 1 + len(shape_tail):
        return value.shape[0]
    layout = "(N, " + ", ".join(map(str, shape_tail)) + ")" if shape_tail else "(N,)"
    expected = f"Detections.{name} must be a {np.dtype(dtype)} array of shape {layout}"
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{expected}, got {type(value).__name__}")
    if value.dtype != dtype:
        raise TypeError(f"{expected}, got dtype {value.dtype}")
    raise ValueError(f"{expected}, got shape {value.shape}")


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
    labels : tuple of str, or None
        Class names indexed by ``class_id`` (the detector's labels, e.g. ``("person",
        "bicycle", "car", ...)``); None when unknown. Frames from :func:`streamer.stream`
        always carry them. Metadata: equality compares the columns only.
    predicted : numpy.ndarray, shape (N,), bool, or None
        Per row, True when a tracker predicted the box (a frame between detections)
        rather than the detector finding it; None for detections no tracker touched.

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

    Examples
    --------
    >>> import numpy as np
    >>> from streamer import Detections
    >>> dets = Detections(
    ...     xyxy=np.array([[10, 20, 50, 90], [60, 5, 120, 40]], np.float32),
    ...     confidence=np.array([0.9, 0.6], np.float32),
    ...     class_id=np.array([0, 2], np.int32),
    ...     labels=("person", "bicycle", "car"),
    ... )
    >>> len(dets), dets.class_name.tolist()
    (2, ['person', 'car'])
    >>> people = dets[dets.class_name == "person"]
    >>> people.xyxy.tolist(), people.to_records()[0]["label"]
    ([[10.0, 20.0, 50.0, 90.0]], 'person')
    >>> dets.to_records()[1]
    {'label': 'car', 'class_id': 2, 'score': 0.6, 'box': [60.0, 5.0, 120.0, 40.0]}

    With supervision and pandas installed:

    >>> sv_dets = dets.to_supervision()                                 # doctest: +SKIP
    >>> pandas.DataFrame(dets.to_records())                             # doctest: +SKIP
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray | None = None
    labels: tuple[str, ...] | None = field(default=None, repr=False)
    predicted: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.labels is not None and not isinstance(self.labels, tuple):
            object.__setattr__(self, "labels", tuple(self.labels))
        lengths = {
            "xyxy": _check_column("xyxy", self.xyxy, np.float32, (4,)),
            "confidence": _check_column("confidence", self.confidence, np.float32, ()),
            "class_id": _check_column("class_id", self.class_id, np.int32, ()),
        }
        if self.tracker_id is not None:
            lengths["tracker_id"] = _check_column("tracker_id", self.tracker_id, np.int64, ())
        if self.predicted is not None:
            lengths["predicted"] = _check_column("predicted", self.predicted, np.bool_, ())
        if len(set(lengths.values())) > 1:
            found = ", ".join(f"{k}={v}" for k, v in lengths.items())
            raise ValueError(f"Detections columns differ in length: {found}")

    @classmethod
    def empty(cls, labels: Sequence[str] | None = None) -> Detections:
        """Return detections with no rows (and no tracker ids), with these ``labels``."""
        return cls(
            xyxy=np.empty((0, 4), np.float32),
            confidence=np.empty(0, np.float32),
            class_id=np.empty(0, np.int32),
            labels=None if labels is None else tuple(labels),
        )

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        """Concatenate detections row-wise, in order.

        Parameters
        ----------
        parts : sequence of Detections
            Either all with tracker ids or all without (empty parts are ignored for
            this rule); the same for ``predicted``.

        Returns
        -------
        Detections
            ``sum(len(p) for p in parts)`` rows, with the first part's labels;
            :meth:`empty` for no parts.

        Raises
        ------
        ValueError
            If some non-empty parts have tracker ids (or ``predicted``) and others do not.
        """
        labels = next((p.labels for p in parts if p.labels is not None), None)
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty(labels)
        tracker_ids = [p.tracker_id for p in parts if p.tracker_id is not None]
        if 0 < len(tracker_ids) < len(parts):
            raise ValueError("Detections.merge: some parts have tracker_id and others do not")
        predicted = [p.predicted for p in parts if p.predicted is not None]
        if 0 < len(predicted) < len(parts):
            raise ValueError("Detections.merge: some parts have predicted and others do not")
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            tracker_id=np.concatenate(tracker_ids) if tracker_ids else None,
            labels=labels,
            predicted=np.concatenate(predicted) if predicted else None,
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
            labels=self.labels,
            predicted=None if self.predicted is None else self.predicted[index],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        if (self.tracker_id is None) != (other.tracker_id is None):
            return False
        if (self.predicted is None) != (other.predicted is None):
            return False
        return (
            np.array_equal(self.xyxy, other.xyxy)
            and np.array_equal(self.confidence, other.confidence)
            and np.array_equal(self.class_id, other.class_id)
            and (self.tracker_id is None or np.array_equal(self.tracker_id, other.tracker_id))
            and (self.predicted is None or np.array_equal(self.predicted, other.predicted))
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside

    @property
    def area(self) -> np.ndarray:
        """Box areas in square pixels, shape (N,), float32 (0 for inverted boxes)."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    @property
    def names(self) -> dict[int, str]:
        """Class names by id, ``{0: "person", 1: "bicycle", ...}`` (empty when ``labels`` is None)."""
        return dict(enumerate(self.labels or ()))

    @property
    def class_name(self) -> np.ndarray:
        """Class name of each row, shape (N,), str: ``dets[dets.class_name == "car"]``.

        Raises
        ------
        ValueError
            If ``labels`` is None or a ``class_id`` has no entry in it.
        """
        labels = self._labels_for("class_name")
        return np.array([labels[c] for c in self.class_id.tolist()], dtype=str) if len(self) else np.empty(0, str)

    def _labels_for(self, what: str, labels: Sequence[str] | None = None) -> Sequence[str]:
        labels = self.labels if labels is None else labels
        if labels is None:
            raise ValueError(f"Detections.{what}: no labels (pass labels=, or use detections from a Detector"
                             " or streamer.stream, which carry them)")
        bad = [c for c in self.class_id.tolist() if not 0 <= c < len(labels)]
        if bad:
            raise IndexError(f"class_id {bad[0]} has no label ({len(labels)} labels)")
        return labels

    def to_records(self, labels: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Return one JSON-ready dict per row, the JSONL's ``detections`` entries.

        ``pandas.DataFrame(dets.to_records())`` makes a table with one row per object.

        Parameters
        ----------
        labels : sequence of str, optional
            Class names indexed by ``class_id`` (e.g. ``Detector.labels``); default:
            :attr:`labels`.

        Returns
        -------
        list of dict
            ``{"label", "class_id", "score", "box": [x1, y1, x2, y2]}`` with box
            coordinates rounded to 2 decimals and the score to 4; ``"track_id"`` (the tracker id) is
            added when tracker ids are present, ``"predicted"`` (bool) when the
            ``predicted`` column is.

        Raises
        ------
        ValueError
            If no labels are given and the detections carry none.
        IndexError
            If a ``class_id`` has no entry in the labels.
        """
        labels = self._labels_for("to_records", labels)
        records = []
        # Not a field of Detection: a fifth one would break unpacking rows in four.
        predicted = None if self.predicted is None else self.predicted.tolist()
        for i, row in enumerate(self):
            record: dict[str, Any] = {
                "label": labels[row.class_id],
                "class_id": row.class_id,
                "score": round(row.confidence, 4),
                "box": [round(float(v), 2) for v in row.xyxy],
            }
            if row.tracker_id is not None:
                record["track_id"] = row.tracker_id
            if predicted is not None:
                record["predicted"] = predicted[i]
            records.append(record)
        return records

    def to_supervision(self) -> Any:
        """Convert to ``supervision.Detections`` (imports supervision only now).

        ``sv_dets = dets.to_supervision()`` then works with supervision's annotators
        (``sv.BoxAnnotator().annotate(image, sv_dets)``), zones and trackers.

        Returns
        -------
        supervision.Detections
            ``xyxy`` (N, 4) float32, ``confidence`` (N,) float32, ``class_id`` (N,) int32,
            ``tracker_id`` (N,) int64 or None, and ``data["class_name"]`` (N,) str when
            :attr:`labels` is set. The arrays are copies.

        Raises
        ------
        ImportError
            If supervision is not installed (``pip install supervision``).
        """
        try:
            import supervision as sv
        except ImportError as exc:
            raise ImportError("Detections.to_supervision needs the supervision package: pip install supervision") from exc
        data = {"class_name": self.class_name} if self.labels is not None else {}
        return sv.Detections(
            xyxy=self.xyxy.copy(), confidence=self.confidence.copy(), class_id=self.class_id.copy(),
            tracker_id=None if self.tracker_id is None else self.tracker_id.copy(), data=data,
        )

    @classmethod
    def from_supervision(cls, detections: Any, labels: Sequence[str] | None = None) -> Detections:
        """Build from a ``supervision.Detections`` (or any object with its attributes).

        ``dets = Detections.from_supervision(sv_dets[zone.trigger(sv_dets)], labels=dets.labels)``
        brings rows back after supervision filtered them (a tracker's ids come along).
        Duck-typed: nothing is imported.

        Parameters
        ----------
        detections : supervision.Detections or alike
            Read: ``xyxy`` (N, 4); ``confidence`` (N,) or None (then 1.0); ``class_id``
            (N,) or None; ``tracker_id`` (N,) or None; ``data["class_name"]`` (N,) if
            present.
        labels : sequence of str, optional
            Class names indexed by ``class_id``. Default: rebuilt from
            ``data["class_name"]`` (ids without a name there become ``"class_<id>"``);
            without ``class_id``, ids are assigned to the names in sorted order (all 0
            when there are no names either).

        Returns
        -------
        Detections
            The same rows in the dtypes this class uses (copies).

        Raises
        ------
        ValueError
            If the columns' shapes disagree, or one class id carries two names.
        """
        xyxy = np.asarray(detections.xyxy, np.float32).reshape(-1, 4)
        n = len(xyxy)
        data = getattr(detections, "data", None) or {}
        names = data.get("class_name")
        names = None if names is None else [str(x) for x in np.asarray(names).reshape(-1).tolist()]
        if names is not None and len(names) != n:
            raise ValueError(f"from_supervision: data['class_name'] has {len(names)} entries for {n} boxes")
        confidence = getattr(detections, "confidence", None)
        class_id = getattr(detections, "class_id", None)
        tracker_id = getattr(detections, "tracker_id", None)
        if class_id is not None:
            ids = np.asarray(class_id).astype(np.int32).reshape(-1)
        elif names is not None:
            order = sorted(set(names))
            ids = np.array([order.index(x) for x in names], np.int32)
            labels = order if labels is None else labels
        else:
            ids = np.zeros(n, np.int32)
        if labels is None and names is not None:
            by_id: dict[int, str] = {}
            for cid, name in zip(ids.tolist(), names):
                if by_id.setdefault(cid, name) != name:
                    raise ValueError(f"from_supervision: class_id {cid} is both {by_id[cid]!r} and {name!r}")
            labels = [by_id.get(i, f"class_{i}") for i in range(max(by_id, default=-1) + 1)]
        return cls(
            xyxy=xyxy.copy(),
            confidence=(np.ones(n, np.float32) if confidence is None
                        else np.asarray(confidence).astype(np.float32).reshape(-1)),
            class_id=ids,
            tracker_id=None if tracker_id is None else np.asarray(tracker_id).astype(np.int64).reshape(-1),
            labels=None if labels is None else tuple(labels),
        )
