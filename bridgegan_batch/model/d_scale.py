"""The test-time scale of d: one number for every component, or one per attribute and direction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, ValidationError

from bridgegan_batch.config import StrictModel

if TYPE_CHECKING:
    import torch

AUTHORS_D_SCALE = 1.5
Scale = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class DScale(StrictModel):
    """d_k = (target_k - source_k) * scale: `add[k]` where the component adds attribute k (d_k > 0),
    `remove[k]` where it removes it, `default` for attributes named in neither. A small scale keeps
    more of the face; a large, global change (a hat, gray hair) may need a larger one to happen."""

    default: Scale = AUTHORS_D_SCALE
    add: dict[str, Scale] = Field(default_factory=dict)
    remove: dict[str, Scale] = Field(default_factory=dict)

    @classmethod
    def of(cls, value: float | DScale | Mapping) -> DScale:
        """A DScale from a number (every component), a mapping of these fields, or a DScale."""
        if isinstance(value, DScale):
            return value
        if isinstance(value, Mapping):
            return cls.model_validate(dict(value))
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{value!r} is neither a number nor a mapping of default/add/remove")
        return cls(default=value)

    def plain(self) -> float | DScale:
        """The default alone when no attribute has its own scale (how a number was given), else self."""
        return self if self.add or self.remove else self.default

    def check(self, attributes: Sequence[str]) -> None:
        """ValueError naming the attributes this scale names and the model does not know."""
        unknown = sorted((set(self.add) | set(self.remove)) - set(attributes))
        if unknown:
            raise ValueError(f"unknown attributes {unknown}; the model knows {list(attributes)}")

    def factor(self, name: str, delta: float) -> float:
        """The scale of one component of d, by its attribute and sign."""
        return (self.add if delta > 0 else self.remove).get(name, self.default)

    def vectors(self, attributes: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(add scales [N], remove scales [N]) in the model's attribute order."""
        import torch  # here, so that validating a job spec does not load torch

        self.check(attributes)
        return (torch.tensor([self.add.get(a, self.default) for a in attributes]),
                torch.tensor([self.remove.get(a, self.default) for a in attributes]))

    def describe(self) -> str:
        """'1.5', or '1.5; add Eyeglasses 1.125, ...; remove Gray_Hair 1.75, ...' for a report."""
        parts = [f"{self.default:g}"] + [
            f"{direction} " + ", ".join(f"{k} {v:g}" for k, v in scales.items())
            for direction, scales in (("add", self.add), ("remove", self.remove)) if scales]
        return "; ".join(parts)


def d_scale_json(value: float | DScale) -> float | dict:
    """A number, or the DScale's fields: what an export's info, a report or eval's JSON holds."""
    return value.model_dump() if isinstance(value, DScale) else value


def parse_d_scale(value: float | DScale | Mapping, where: str = "") -> float | DScale:
    """`value` checked, as a number when it is one scale; a ValueError (prefixed by `where`) otherwise."""
    prefix = f"{where}: " if where else ""
    try:
        return DScale.of(value).plain()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: "
                             f"{'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}" for e in exc.errors())
        raise ValueError(f"{prefix}{problems}") from None
    except ValueError as exc:
        raise ValueError(f"{prefix}{exc}") from None
