"""How closely one detector's boxes follow another's: the check an INT8 or resized model passes.

Used by ``scripts/quantize_int8.py`` (before a quantized model is written), by
``scripts/bench_int8.py`` (the accuracy column) and by ``tests/test_int8.py``.

The rule (issue 10): of the reference model's confident boxes (score >= ``confident``), at
least 97 % must be matched by the candidate (same class, IoU >= ``iou``), and at most 3 %
of the candidate's confident boxes may be new (matched by no reference box).  A box is
matched by a box the *other* model reports at ``shown`` (the product's default ``conf``,
0.35): a box the FP32 model scores 0.52 and the INT8 model 0.48 is still on screen with
the default settings, so it is not lost.  The strict figures (both sides at
``confident``) are reported too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from streamer.detection.detections import Detections
from streamer.kernels import box_iou

#: Reference boxes at or above this score are the ones that must be kept.
CONFIDENT = 0.5
#: A box counts as reported when its score reaches the product's default ``conf``.
SHOWN = 0.35
#: Same object: same class and at least this IoU.
MATCH_IOU = 0.7
#: The bar: at least this share of the reference's confident boxes matched...
MIN_MATCHED = 0.97
#: ... and at most this share of the candidate's confident boxes new.
MAX_NEW = 0.03


def _matched(a: Detections, b: Detections, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching by IoU (highest first) within a class.

    Returns
    -------
    a_matched : numpy.ndarray, shape (len(a),), bool
    b_matched : numpy.ndarray, shape (len(b),), bool
    """
    a_hit, b_hit = np.zeros(len(a), bool), np.zeros(len(b), bool)
    if len(a) == 0 or len(b) == 0:
        return a_hit, b_hit
    overlap = box_iou(a.xyxy, b.xyxy)
    overlap[a.class_id[:, None] != b.class_id[None, :]] = 0.0
    rows, cols = np.nonzero(overlap >= iou)
    for k in np.argsort(-overlap[rows, cols], kind="stable"):
        i, j = rows[k], cols[k]
        if not a_hit[i] and not b_hit[j]:
            a_hit[i] = b_hit[j] = True
    return a_hit, b_hit


@dataclass
class Agreement:
    """Counts over a set of frames (add frames with :meth:`add`).

    Attributes
    ----------
    reference : int
        Reference boxes with score >= ``confident``.
    matched : int
        Of those, matched by a candidate box with score >= ``shown``.
    candidate : int
        Candidate boxes with score >= ``confident``.
    new : int
        Of those, matching no reference box with score >= ``shown``.
    strict_matched, strict_new : int
        The same with both sides at ``confident``.
    """

    confident: float = CONFIDENT
    shown: float = SHOWN
    iou: float = MATCH_IOU
    reference: int = 0
    matched: int = 0
    candidate: int = 0
    new: int = 0
    strict_matched: int = 0
    strict_new: int = 0

    def add(self, reference: Detections, candidate: Detections) -> None:
        """Count one frame: the two models' detections (at a conf <= ``shown``)."""
        ref, cand = reference[reference.confidence >= self.confident], candidate[candidate.confidence >= self.confident]
        ref_shown = reference[reference.confidence >= self.shown]
        cand_shown = candidate[candidate.confidence >= self.shown]
        self.reference += len(ref)
        self.candidate += len(cand)
        self.matched += int(_matched(ref, cand_shown, self.iou)[0].sum())
        self.new += int((~_matched(ref_shown, cand, self.iou)[1]).sum())
        strict_ref, strict_cand = _matched(ref, cand, self.iou)
        self.strict_matched += int(strict_ref.sum())
        self.strict_new += int((~strict_cand).sum())

    def extend(self, pairs: Iterable[tuple[Detections, Detections]]) -> Agreement:
        """Count several frames; returns self."""
        for reference, candidate in pairs:
            self.add(reference, candidate)
        return self

    @property
    def matched_share(self) -> float:
        """Matched reference boxes / reference boxes (1.0 when there are none)."""
        return self.matched / self.reference if self.reference else 1.0

    @property
    def new_share(self) -> float:
        """New candidate boxes / candidate boxes (0.0 when there are none)."""
        return self.new / self.candidate if self.candidate else 0.0

    def passes(self, min_matched: float = MIN_MATCHED, max_new: float = MAX_NEW) -> bool:
        """True when the candidate keeps the reference's boxes by the rule above."""
        return self.matched_share >= min_matched and self.new_share <= max_new

    def summary(self) -> str:
        """One line with every figure."""
        strict_m = self.strict_matched / self.reference if self.reference else 1.0
        strict_n = self.strict_new / self.candidate if self.candidate else 0.0
        return (f"{self.matched}/{self.reference} reference boxes >= {self.confident:g} matched "
                f"({self.matched_share:.1%}), {self.new}/{self.candidate} candidate boxes new "
                f"({self.new_share:.1%}); strict (both >= {self.confident:g}): {strict_m:.1%} matched, "
                f"{strict_n:.1%} new")
