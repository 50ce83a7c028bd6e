"""Typed, frozen configuration schemas; unknown keys are errors, and errors name the field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bridgegan_batch.data.attributes import CELEBA_PRIORS, HAIR_COLORS, SYNTH_ATTRIBUTES
from bridgegan_batch.errors import ConfigError

GLASSES_SHAPES = ("round", "oval", "rect", "aviator", "cateye")
DEFAULT_SYNTH_PRIORS: dict[str, float] = {name: CELEBA_PRIORS[name] for name in SYNTH_ATTRIBUTES}


class StrictModel(BaseModel):
    """Frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SynthConfig(StrictModel):
    """What SynthFaces samples."""

    # Fraction of faces with each attribute; unlisted attributes keep CelebA's frequency.
    priors: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SYNTH_PRIORS))
    # Glasses frame shapes to draw from (hold some out to test generalisation).
    glasses_shapes: tuple[str, ...] = GLASSES_SHAPES

    @field_validator("priors")
    @classmethod
    def _known_probabilities(cls, priors: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(priors) - set(SYNTH_ATTRIBUTES))
        if unknown:
            raise ValueError(f"unknown attribute in priors {unknown}; known: {list(SYNTH_ATTRIBUTES)}")
        for name, p in priors.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name}: must be in [0, 1], got {p}")
        return {**DEFAULT_SYNTH_PRIORS, **priors}

    @field_validator("glasses_shapes")
    @classmethod
    def _known_shapes(cls, shapes: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in shapes if s not in GLASSES_SHAPES]
        if unknown or not shapes:
            raise ValueError(f"glasses shapes {unknown or '[]'} invalid; choose from {list(GLASSES_SHAPES)}")
        return shapes

    @model_validator(mode="after")
    def _hair_colours_exclusive(self) -> SynthConfig:
        if sum(self.priors[h] for h in HAIR_COLORS) > 1.0 + 1e-9:
            raise ValueError(f"priors of the hair colours {list(HAIR_COLORS)} are exclusive and sum > 1")
        return self


M = TypeVar("M", bound=BaseModel)


def describe_errors(exc: ValidationError) -> str:
    """One line per problem, each naming the field by its dotted path."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


def validate(model: type[M], data: object, source: str) -> M:
    """`data` as `model`, or a ConfigError naming `source` and every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_errors(exc)}") from exc


def load_yaml(path: str | Path, model: type[M]) -> M:
    """Load and validate a YAML file (safe_load: no tags, no code)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return validate(model, data if data is not None else {}, str(path))
