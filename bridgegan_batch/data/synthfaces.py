"""SynthFaces: labelled cartoon faces rendered from parameter records, with true counterfactuals.

A face is a `FaceRecord`: its attributes, one style per attribute (the glasses it wears when it
wears glasses, the shade of its hair, ...) and nuisance factors (pose, face shape, skin,
background, lighting, sensor noise). `sample_record(seed, index)` draws one; `render(record)` is a
pure function of it. Changing attributes (`with_attributes`) or copying attribute styles from
another face (`with_styles_from`) and rendering again gives the exact counterfactual.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from bridgegan_batch.config import SynthConfig
from bridgegan_batch.data.attributes import HAIR_COLORS, SYNTH_ATTRIBUTES, apply_changes, check_names
from bridgegan_batch.data.drawing import Pen, ellipse_points, pose_matrix

SIZES = (64, 128)
SUPERSAMPLE = 3  # render at 3x and box-downsample: smooth edges at a fraction of the cost of 4x
HAT_SHAPES = ("beanie", "brim", "cap")
BEARD_STYLES = ("full", "goatee", "moustache", "stubble")

RGB = tuple[int, int, int]


# ----------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class GlassesStyle:
    shape: str  # one of GLASSES_SHAPES
    frame_color: RGB
    thickness: float  # frame width, design units
    lens_size: float  # lens half-width, design units
    tint: float  # lens opacity, 0 = clear
    tint_color: RGB


@dataclass(frozen=True)
class HairStyle:
    shade: float  # 0 = darkest, 1 = lightest shade within the hair colour
    length: float  # 0 = cropped, 1 = down to the shoulders
    other_color: RGB  # used when no hair-colour attribute is set
    bald: bool  # with no hair colour and no bangs, the head is bald
    bangs_length: float  # 0 = short fringe, 1 = down to the brows


@dataclass(frozen=True)
class HatStyle:
    shape: str  # one of HAT_SHAPES
    color: RGB


@dataclass(frozen=True)
class SmileStyle:
    width: float  # 0..1
    teeth: bool


@dataclass(frozen=True)
class BeardStyle:
    style: str  # one of BEARD_STYLES
    density: float  # opacity, 0..1
    color: RGB


@dataclass(frozen=True)
class FaceShape:
    half_width: float  # design units
    half_height: float
    skin_tone: float  # 0 = dark, 1 = light (pale skin has its own palette)
    eye_color: RGB
    wrinkles: float  # how marked an older face's wrinkles are, 0..1


@dataclass(frozen=True)
class Pose:
    shift: tuple[float, float]  # design units
    scale: float
    rotation: float  # degrees


@dataclass(frozen=True)
class Scene:
    background_a: RGB
    background_b: RGB
    gradient_angle: float  # degrees
    shirt_color: RGB
    light_angle: float  # degrees
    light_strength: float  # multiplicative, 0 = flat
    noise_sigma: float  # in 0..255 units
    noise_seed: int


@dataclass(frozen=True)
class FaceRecord:
    seed: int
    index: int
    attributes: dict[str, int]
    face: FaceShape
    pose: Pose
    scene: Scene
    glasses: GlassesStyle
    hair: HairStyle
    hat: HatStyle
    smile: SmileStyle
    beard: BeardStyle

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> FaceRecord:
        return _from_dict(cls, data)


def _from_dict(cls: type, data: Mapping):
    """Build dataclass `cls` from plain JSON data, strictly: unknown or missing keys are errors."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    if set(data) != names:
        raise ValueError(
            f"{cls.__name__}: unknown keys {sorted(set(data) - names)}, "
            f"missing keys {sorted(names - set(data))}"
        )
    kwargs = {}
    for name in names:
        hint, value = hints[name], data[name]
        if dataclasses.is_dataclass(hint):
            value = _from_dict(hint, value)
        elif typing.get_origin(hint) is tuple:
            value = tuple(value)
        elif typing.get_origin(hint) is dict:
            value = dict(value)
        kwargs[name] = value
    return cls(**kwargs)


# ----------------------------------------------------------------------------- sampling


def _lerp(a: Iterable[float], b: Iterable[float], t: float) -> RGB:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def sample_record(seed: int, index: int, config: SynthConfig | None = None) -> FaceRecord:
    """The face number `index` of the stream `seed`: a deterministic function of both."""
    config = config or SynthConfig()
    rng = np.random.default_rng([seed, index])
    u = rng.random  # every draw is uniform, in a fixed order: stable across numpy versions

    def pick(options):
        return options[min(int(u() * len(options)), len(options) - 1)]

    def color(lo, hi):
        return _lerp(lo, hi, u())

    attributes = {name: int(u() < config.priors[name]) for name in SYNTH_ATTRIBUTES}
    # Hair colours are one categorical draw so that the exclusive group stays consistent.
    r, acc = u(), 0.0
    for name in HAIR_COLORS:
        attributes[name] = 0
    for name in HAIR_COLORS:
        acc += config.priors[name]
        if r < acc:
            attributes[name] = 1
            break

    face = FaceShape(
        half_width=27 + 6 * u(),
        half_height=34 + 6 * u(),
        skin_tone=u(),
        eye_color=pick([(70, 45, 25), (40, 90, 150), (60, 110, 60), (100, 80, 50), (30, 30, 35)]),
        wrinkles=0.5 + 0.5 * u(),
    )
    pose = Pose(shift=(10 * u() - 5, 10 * u() - 5), scale=0.92 + 0.16 * u(), rotation=16 * u() - 8)
    scene = Scene(
        background_a=color((40, 40, 60), (230, 230, 240)),
        background_b=color((90, 70, 40), (200, 230, 210)),
        gradient_angle=360 * u(),
        shirt_color=(int(255 * u()), int(255 * u()), int(255 * u())),
        light_angle=360 * u(),
        light_strength=0.2 * u(),
        noise_sigma=4 * u(),
        noise_seed=int(u() * 2**31),
    )
    glasses = GlassesStyle(
        shape=pick(config.glasses_shapes),
        frame_color=pick([(20, 20, 20), (120, 20, 20), (20, 40, 130), (150, 120, 40), (90, 90, 95)]),
        thickness=1.6 + 1.4 * u(),
        lens_size=7.5 + 2.0 * u(),
        tint=0.6 * u() if u() < 0.5 else 0.0,
        tint_color=pick([(20, 20, 20), (60, 40, 20), (20, 60, 40), (40, 40, 90)]),
    )
    hair = HairStyle(
        shade=u(),
        length=u(),
        other_color=color((165, 65, 25), (205, 100, 45)),
        bald=u() < 0.25,
        bangs_length=u(),
    )
    hat = HatStyle(shape=pick(HAT_SHAPES),
                   color=pick([(170, 30, 30), (30, 60, 140), (40, 40, 40), (220, 200, 150),
                               (30, 110, 60), (200, 120, 30)]))
    smile = SmileStyle(width=u(), teeth=u() < 0.6)
    beard = BeardStyle(style=pick(BEARD_STYLES), density=0.55 + 0.45 * u(),
                       color=color((25, 20, 18), (110, 70, 40)))
    return FaceRecord(seed=seed, index=index, attributes=attributes, face=face, pose=pose,
                      scene=scene, glasses=glasses, hair=hair, hat=hat, smile=smile, beard=beard)


# ----------------------------------------------------------------------------- counterfactuals

# Which part of the record holds the style of each attribute (what a reference contributes).
STYLE_OF: dict[str, tuple[str, tuple[str, ...]]] = {
    "Eyeglasses": ("glasses", ()),  # () = the whole style
    "Black_Hair": ("hair", ("shade",)),
    "Blond_Hair": ("hair", ("shade",)),
    "Brown_Hair": ("hair", ("shade",)),
    "Gray_Hair": ("hair", ("shade",)),
    "Bangs": ("hair", ("bangs_length",)),
    "Wearing_Hat": ("hat", ()),
    "Smiling": ("smile", ()),
    "Male": ("beard", ()),
    "Young": ("face", ("wrinkles",)),
}


def with_attributes(record: FaceRecord, changes: Mapping[str, int]) -> FaceRecord:
    """The same face with some attributes changed (exclusive hair colours kept consistent)."""
    check_names(list(changes), SYNTH_ATTRIBUTES, "attribute")
    return dataclasses.replace(record, attributes=apply_changes(record.attributes, changes))


def with_styles_from(record: FaceRecord, reference: FaceRecord,
                     attributes: Iterable[str]) -> FaceRecord:
    """The same face wearing the reference's style of `attributes` (its glasses, its shade)."""
    attributes = list(attributes)
    check_names(attributes, SYNTH_ATTRIBUTES, "attribute")
    out = record
    for name in attributes:
        if name not in STYLE_OF:
            continue  # Pale_Skin has no style of its own
        part, fields = STYLE_OF[name]
        ref_style = getattr(reference, part)
        if not fields:
            new_style = ref_style
        else:
            new_style = dataclasses.replace(
                getattr(out, part), **{f: getattr(ref_style, f) for f in fields})
        out = dataclasses.replace(out, **{part: new_style})
    return out


# ----------------------------------------------------------------------------- rendering

_HAIR_PALETTES: dict[str, tuple[RGB, RGB]] = {
    "Black_Hair": ((18, 16, 18), (55, 45, 40)),
    "Blond_Hair": ((205, 170, 95), (245, 225, 155)),
    "Brown_Hair": ((80, 50, 30), (135, 90, 55)),
    "Gray_Hair": ((125, 125, 130), (215, 215, 218)),
}
_SKIN_DARK, _SKIN_LIGHT = (92, 60, 42), (222, 178, 148)
_SKIN_PALE = (250, 228, 218)


@dataclass(frozen=True)
class _Layout:
    """Where the features of a face sit, in design units."""

    cx: float
    cy: float
    fw: float
    fh: float

    @property
    def eye_y(self) -> float:
        return self.cy - 0.08 * self.fh

    @property
    def eye_dx(self) -> float:
        return 0.45 * self.fw

    @property
    def brow_y(self) -> float:
        return self.eye_y - 8.5

    @property
    def mouth_y(self) -> float:
        return self.cy + 0.52 * self.fh

    @property
    def hairline_y(self) -> float:
        return self.cy - 0.62 * self.fh


def _layout(record: FaceRecord) -> _Layout:
    return _Layout(64.0, 62.0, record.face.half_width, record.face.half_height)


def _skin(record: FaceRecord) -> RGB:
    if record.attributes["Pale_Skin"]:
        return _SKIN_PALE
    return _lerp(_SKIN_DARK, _SKIN_LIGHT, record.face.skin_tone)


def _shade(c: RGB, f: float) -> RGB:
    return tuple(max(0, min(255, int(v * f))) for v in c)  # type: ignore[return-value]


def _hair_color(record: FaceRecord) -> RGB | None:
    """The hair colour, or None for a bald head."""
    for name in HAIR_COLORS:
        if record.attributes[name]:
            lo, hi = _HAIR_PALETTES[name]
            return _lerp(lo, hi, record.hair.shade)
    if record.hair.bald and not record.attributes["Bangs"]:
        return None
    return record.hair.other_color


def _face_outline(L: _Layout, male: bool) -> np.ndarray:
    """Face contour: an ellipse on top, a squarer jaw below for male faces. [N, 2]"""
    top = ellipse_points(L.cx, L.cy, L.fw, L.fh, 32, math.pi, 2 * math.pi)
    bottom = ellipse_points(L.cx, L.cy, L.fw, L.fh, 33, 0, math.pi, power=3.2 if male else 2.0)
    if not male:  # narrow the chin
        t = np.clip((bottom[:, 1] - L.cy) / L.fh, 0, 1)
        bottom[:, 0] = L.cx + (bottom[:, 0] - L.cx) * (1 - 0.18 * t**2)
    return np.concatenate([top, bottom])


def _draw_hair_back(pen: Pen, L: _Layout, record: FaceRecord, hair: RGB) -> None:
    drop = L.cy + (0.1 + 1.0 * record.hair.length) * L.fh  # how far down the hair falls
    pts = ellipse_points(L.cx, L.cy - 2, L.fw + 5, L.fh + 6, 24, math.pi, 2 * math.pi)
    sides = np.array([[L.cx + L.fw + 5 + 3 * record.hair.length, drop],
                      [L.cx - L.fw - 5 - 3 * record.hair.length, drop]])
    pen.polygon(np.concatenate([pts, sides]), hair)


def _draw_hair_top(pen: Pen, L: _Layout, record: FaceRecord, hair: RGB) -> None:
    cap = ellipse_points(L.cx, L.cy - 1, L.fw + 2.5, L.fh + 3, 24, math.pi * 0.95, math.pi * 2.05)
    line = ellipse_points(L.cx, L.hairline_y + 10, L.fw * 0.9, 10, 16, math.pi * 2, math.pi)
    pen.polygon(np.concatenate([cap, line]), hair)
    if record.attributes["Bangs"]:
        bottom = L.hairline_y + 3 + (L.brow_y - 1.5 - L.hairline_y - 3) * (
            0.45 + 0.55 * record.hair.bangs_length)
        n = 9
        xs = np.linspace(L.cx - L.fw * 0.92, L.cx + L.fw * 0.92, 2 * n + 1)
        ys = np.where(np.arange(2 * n + 1) % 2 == 0, bottom - 3.0, bottom)
        fringe = np.stack([xs, ys], axis=1)[::-1]
        top = np.array([[L.cx - L.fw * 0.95, L.hairline_y - 4], [L.cx + L.fw * 0.95, L.hairline_y - 4]])
        pen.polygon(np.concatenate([top, fringe]), hair)
        pen.line(fringe, _shade(hair, 0.6), 1.2)  # the fringe's shadowed edge


def _draw_eyes(pen: Pen, L: _Layout, record: FaceRecord, skin: RGB) -> None:
    male = record.attributes["Male"]
    for side in (-1, 1):
        x = L.cx + side * L.eye_dx
        pen.ellipse(x, L.eye_y, 5.2, 3.2, (250, 250, 250), 20)
        pen.ellipse(x, L.eye_y, 2.6, 2.6, record.face.eye_color, 16)
        pen.ellipse(x, L.eye_y, 1.2, 1.2, (10, 10, 10), 12)
        brow = np.array([[x - side * 5.5, L.brow_y + (0.5 if male else 1.5)],
                         [x, L.brow_y - (0.0 if male else 1.2)],
                         [x + side * 6.0, L.brow_y + (0.5 if male else 0.8)]])
        pen.line(brow, _shade(skin, 0.35), 2.6 if male else 1.5)


def _draw_wrinkles(pen: Pen, L: _Layout, record: FaceRecord, skin: RGB) -> None:
    ink = _shade(skin, 0.8 - 0.3 * record.face.wrinkles)
    width = 1.5 + 0.7 * record.face.wrinkles  # visible at 64 px, on every skin tone
    for i in range(3):  # forehead
        y = L.hairline_y + 5 + 3.2 * i
        pen.line(ellipse_points(L.cx, y + 4, L.fw * 0.45, 4, 8, math.pi * 1.15, math.pi * 1.85),
                 ink, width)
    for side in (-1, 1):
        x = L.cx + side * L.eye_dx
        pen.line(ellipse_points(x, L.eye_y + 3.5, 4.5, 2.0, 8, 0.15 * math.pi, 0.85 * math.pi),
                 ink, width)  # bags under the eyes
        nose_x = L.cx + side * 6.5
        pen.line(np.array([[nose_x, L.cy + 0.22 * L.fh],
                           [nose_x + side * 3.5, L.cy + 0.40 * L.fh],
                           [nose_x + side * 4.5, L.mouth_y + 2]]), ink, width)  # nasolabial folds


def _draw_beard(pen: Pen, L: _Layout, record: FaceRecord, outline: np.ndarray) -> None:
    b = record.beard
    alpha = int(255 * b.density * (0.6 if b.style == "stubble" else 1.0))
    ink = (*b.color, alpha)
    if b.style in ("full", "stubble"):
        jaw = outline[outline[:, 1] > L.cy + 0.22 * L.fh]
        jaw = jaw[np.argsort(np.arctan2(jaw[:, 1] - L.cy, jaw[:, 0] - L.cx))]
        top = ellipse_points(L.cx, L.cy + 0.35 * L.fh, L.fw * 0.55, 6, 12, math.pi, 2 * math.pi)
        pen.polygon(np.concatenate([jaw[::-1], top[::-1]]), ink)
    if b.style == "goatee":
        pen.ellipse(L.cx, L.mouth_y + 0.2 * L.fh, 7.0, 0.26 * L.fh, ink, 20)
    if b.style in ("full", "goatee", "moustache"):
        pen.polygon(np.array([[L.cx - 10, L.mouth_y - 1], [L.cx - 6, L.mouth_y - 6],
                              [L.cx + 6, L.mouth_y - 6], [L.cx + 10, L.mouth_y - 1],
                              [L.cx, L.mouth_y - 3.2]]), ink)


def _draw_mouth(pen: Pen, L: _Layout, record: FaceRecord, skin: RGB) -> None:
    lips = _lerp(skin, (170, 50, 60), 0.55)
    y = L.mouth_y
    if record.attributes["Smiling"]:
        w = 8.5 + 4.0 * record.smile.width
        top = ellipse_points(L.cx, y - 1.0, w, 1.6, 12, math.pi, 2 * math.pi)
        bottom = ellipse_points(L.cx, y - 1.0, w, 5.5 + 1.5 * record.smile.width, 16, 0, math.pi)
        pen.polygon(np.concatenate([bottom[::-1], top]), (110, 25, 35))
        if record.smile.teeth:
            pen.polygon(np.concatenate([
                ellipse_points(L.cx, y - 1.0, w * 0.8, 1.2, 10, math.pi, 2 * math.pi),
                ellipse_points(L.cx, y - 1.0, w * 0.8, 2.8, 10, 0, math.pi)[::-1][::-1]]),
                (245, 245, 240))
        pen.line(np.concatenate([top[:1], bottom, top[-1:]]), lips, 1.4)
        for side in (-1, 1):  # raised cheeks
            pen.line(ellipse_points(L.cx + side * (w + 2.5), y - 3, 2.5, 3.5, 6,
                                    0.6 * math.pi if side < 0 else -0.4 * math.pi,
                                    1.2 * math.pi if side < 0 else 0.2 * math.pi),
                     _shade(skin, 0.75), 1.0)
    else:
        w = 7.0
        pen.ellipse(L.cx, y, w, 1.9, lips, 16)
        pen.line(np.array([[L.cx - w, y], [L.cx + w, y]]), _shade(lips, 0.6), 0.8)


def _draw_glasses(pen: Pen, L: _Layout, g: GlassesStyle) -> None:
    rx = g.lens_size
    ry = {"round": rx, "oval": rx * 0.72, "rect": rx * 0.7, "aviator": rx * 0.85,
          "cateye": rx * 0.7}[g.shape]
    for side in (-1, 1):
        x = L.cx + side * L.eye_dx
        if g.shape == "rect":
            lens = ellipse_points(x, L.eye_y, rx, ry, 40, power=5)
        elif g.shape == "aviator":  # a teardrop: wider at the bottom outer corner
            lens = ellipse_points(x, L.eye_y, rx, ry, 40)
            low = lens[:, 1] > L.eye_y
            lens[low, 1] += 2.5 * ((lens[low, 0] - x) * side / rx + 1) / 2
        elif g.shape == "cateye":  # upswept outer corners
            lens = ellipse_points(x, L.eye_y, rx, ry, 40, power=2.6)
            outer_top = (lens[:, 1] < L.eye_y) & ((lens[:, 0] - x) * side > 0)
            lens[outer_top, 1] -= 2.5 * ((lens[outer_top, 0] - x) * side / rx)
        else:
            lens = ellipse_points(x, L.eye_y, rx, ry, 40)
        if g.tint > 0:
            pen.polygon(lens, (*g.tint_color, int(255 * g.tint)))
        pen.outline(lens, g.frame_color, g.thickness)
        pen.line(np.array([[x + side * rx, L.eye_y - 1], [L.cx + side * (L.fw + 0.5), L.eye_y - 2]]),
                 g.frame_color, g.thickness * 0.8)  # temple
    bridge = ellipse_points(L.cx, L.eye_y - 0.5, L.eye_dx - rx + 0.5, 2.0, 8, math.pi, 2 * math.pi)
    pen.line(bridge, g.frame_color, g.thickness * 0.8)


def _draw_hat(pen: Pen, L: _Layout, h: HatStyle) -> None:
    base = L.hairline_y + 1
    dark = _shade(h.color, 0.7)
    if h.shape == "beanie":
        pen.polygon(ellipse_points(L.cx, base, L.fw + 3, L.fh * 0.95, 24, math.pi, 2 * math.pi), h.color)
        pen.polygon(ellipse_points(L.cx, base - 1.5, L.fw + 4, 4, 24, power=6), dark)
    elif h.shape == "brim":
        pen.polygon(ellipse_points(L.cx, base - 4, L.fw + 14, 4.5, 32), dark)
        crown = ellipse_points(L.cx, base - 4, L.fw * 0.8, L.fh * 0.75, 24, math.pi, 2 * math.pi, power=4)
        pen.polygon(crown, h.color)
        pen.polygon(ellipse_points(L.cx, base - 6, L.fw * 0.8, 2.2, 16, power=6), dark)
    else:  # cap: a dome and a visor
        pen.polygon(ellipse_points(L.cx, base, L.fw + 2.5, L.fh * 0.85, 24, math.pi, 2 * math.pi), h.color)
        pen.polygon(ellipse_points(L.cx, base + 0.5, L.fw * 0.9, 4.0, 24, 0, math.pi), dark)


def _draw_face(image: Image.Image, record: FaceRecord) -> None:
    L = _layout(record)
    A, b = pose_matrix(image.width, record.pose.rotation, record.pose.scale, record.pose.shift,
                       (L.cx, L.cy))
    pen = Pen(image, A, b)
    skin = _skin(record)
    hair = _hair_color(record)
    male = bool(record.attributes["Male"])

    if hair is not None:
        _draw_hair_back(pen, L, record, hair)
    pen.polygon(np.array([[L.cx - 0.42 * L.fw, L.cy + 0.5 * L.fh], [L.cx + 0.42 * L.fw, L.cy + 0.5 * L.fh],
                          [L.cx + 0.45 * L.fw, 140], [L.cx - 0.45 * L.fw, 140]]), _shade(skin, 0.85))
    pen.ellipse(L.cx, 140, L.fw * 1.9, 24, record.scene.shirt_color, 32)  # shoulders
    for side in (-1, 1):
        pen.ellipse(L.cx + side * L.fw, L.eye_y + 4, 4.5, 7.5, _shade(skin, 0.9), 16)
    outline = _face_outline(L, male)
    pen.polygon(outline, skin)
    if not record.attributes["Young"]:
        _draw_wrinkles(pen, L, record, skin)
    _draw_eyes(pen, L, record, skin)
    pen.line(np.array([[L.cx - 1, L.eye_y + 4], [L.cx - 3.2, L.cy + 0.25 * L.fh],
                       [L.cx + 2.5, L.cy + 0.27 * L.fh]]), _shade(skin, 0.7), 1.3)  # nose
    if male:
        _draw_beard(pen, L, record, outline)
    _draw_mouth(pen, L, record, skin)
    if hair is not None:
        _draw_hair_top(pen, L, record, hair)
    if record.attributes["Eyeglasses"]:
        _draw_glasses(pen, L, record.glasses)
    if record.attributes["Wearing_Hat"]:
        _draw_hat(pen, L, record.hat)


def _gradient(size: int, angle_deg: float) -> np.ndarray:
    """A linear ramp in [-1, 1] across the image along `angle_deg`. [size, size]"""
    a = math.radians(angle_deg)
    coords = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    ramp = coords[None, :] * math.cos(a) + coords[:, None] * math.sin(a)
    return ramp / math.sqrt(2.0)


def render(record: FaceRecord, size: int = 64) -> np.ndarray:
    """Render a face: a pure function of (record, size). [size, size, 3] uint8"""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size}")
    canvas = size * SUPERSAMPLE
    s = record.scene
    t = (_gradient(canvas, s.gradient_angle) + 1) / 2  # [C, C] in [0, 1]
    bg = np.asarray(s.background_a, np.float32) * (1 - t[..., None]) + np.asarray(
        s.background_b, np.float32) * t[..., None]  # [C, C, 3]
    image = Image.fromarray(bg.astype(np.uint8), "RGB")
    _draw_face(image, record)
    image = image.reduce(SUPERSAMPLE)  # box filter: antialiased edges

    pixels = np.asarray(image, dtype=np.float32)  # [S, S, 3]
    pixels *= 1.0 + s.light_strength * _gradient(size, s.light_angle)[..., None]
    noise = np.random.default_rng(s.noise_seed).standard_normal((size, size, 3), dtype=np.float32)
    pixels += s.noise_sigma * noise
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def eye_band_mask(record: FaceRecord, size: int = 64, margin_px: float = 1.0) -> np.ndarray:
    """Pixels where glasses can be drawn on this face (the eye band, temples included). [S, S] bool"""
    L = _layout(record)
    half = record.glasses.lens_size + record.glasses.thickness + 3.5
    band = np.array([[L.cx - L.fw - 3, L.eye_y - half], [L.cx + L.fw + 3, L.eye_y - half],
                     [L.cx + L.fw + 3, L.eye_y + half], [L.cx - L.fw - 3, L.eye_y + half]])
    A, b = pose_matrix(size, record.pose.rotation, record.pose.scale, record.pose.shift, (L.cx, L.cy))
    corners = band @ A.T + b
    center = corners.mean(axis=0)
    grown = center + (corners - center) * (1 + 0) + np.sign(corners - center) * margin_px
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in grown.tolist()], fill=1)
    return np.asarray(mask, dtype=bool)
