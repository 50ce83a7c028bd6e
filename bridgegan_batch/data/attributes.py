"""The attribute vocabulary: names, mutually exclusive groups and CelebA's label priors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# The attributes SynthFaces renders, named as in CelebA.
SYNTH_ATTRIBUTES: tuple[str, ...] = (
    "Eyeglasses",
    "Smiling",
    "Black_Hair",
    "Blond_Hair",
    "Brown_Hair",
    "Gray_Hair",
    "Bangs",
    "Male",
    "Young",
    "Pale_Skin",
    "Wearing_Hat",
)

HAIR_COLORS: tuple[str, ...] = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")

# At most one attribute of a group is 1; all zero is allowed (other colour, or bald).
EXCLUSIVE_GROUPS: tuple[tuple[str, ...], ...] = (HAIR_COLORS,)

# Frequencies (fraction of 1s) commonly reported for CelebA's 202 599 labels.
CELEBA_PRIORS: dict[str, float] = {
    "Eyeglasses": 0.065,
    "Smiling": 0.482,
    "Black_Hair": 0.239,
    "Blond_Hair": 0.148,
    "Brown_Hair": 0.205,
    "Gray_Hair": 0.042,
    "Bangs": 0.152,
    "Male": 0.417,
    "Young": 0.774,
    "Pale_Skin": 0.043,
    "Wearing_Hat": 0.048,
    "Mustache": 0.042,
    "No_Beard": 0.835,
}

# The 40 attributes of list_attr_celeba.txt, in file order.
CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip


def exclusive_group(name: str) -> tuple[str, ...] | None:
    """The exclusive group `name` belongs to, or None."""
    for group in EXCLUSIVE_GROUPS:
        if name in group:
            return group
    return None


def check_changes(changes: Mapping[str, int]) -> None:
    """ValueError unless every value is 0/1 and at most one member of an exclusive group is set to 1."""
    for name, value in changes.items():
        if isinstance(value, bool) or value not in (0, 1):
            raise ValueError(f"attribute {name!r}: value must be 0 or 1, got {value!r}")
    for group in EXCLUSIVE_GROUPS:
        on = [name for name in group if changes.get(name) == 1]
        if len(on) > 1:
            raise ValueError(f"attributes {on} are mutually exclusive; set at most one to 1")


def apply_changes(labels: Mapping[str, int], changes: Mapping[str, int]) -> dict[str, int]:
    """`labels` with `changes` applied, keeping exclusive groups consistent.

    Setting one member of a group to 1 clears the others (a face turned blond is no longer
    black-haired). Two members of one group set to 1 in the same change is an error.
    """
    check_changes(changes)
    result = dict(labels)
    for name, value in changes.items():
        result[name] = value
        group = exclusive_group(name)
        if value == 1 and group is not None:
            for other in group:
                if other != name and other in result:
                    result[other] = 0
    return result


def check_names(names: list[str] | tuple[str, ...], known: tuple[str, ...], what: str) -> None:
    """Raise ValueError naming every entry of `names` that is not in `known`."""
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {list(known)}")


def group_indices(attributes: Sequence[str], groups: Sequence[Sequence[str]]) -> list[list[int]]:
    """Each exclusive group as attribute indices (groups with fewer than two present are dropped)."""
    out = []
    for group in groups:
        idx = [attributes.index(a) for a in group if a in attributes]
        if len(idx) > 1:
            out.append(idx)
    return out
