"""Typed, frozen configuration schemas; unknown keys are errors, and errors name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bridgegan_batch.data.attributes import CELEBA_PRIORS, HAIR_COLORS, SYNTH_ATTRIBUTES
from bridgegan_batch.errors import ConfigError

GLASSES_SHAPES = ("round", "oval", "rect", "aviator", "cateye")
# What leaves the translator (model/translator.py): G's output, or only the change G makes on the source.
EditMode = Literal["direct", "residual"]
EDIT_MODES: tuple[str, ...] = get_args(EditMode)
DEFAULT_SYNTH_PRIORS: dict[str, float] = {name: CELEBA_PRIORS[name] for name in SYNTH_ATTRIBUTES}


class StrictModel(BaseModel):
    """Frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value, info):
        """YAML reads `no` and `off` as false: a number field given a boolean, or a list or mapping of numbers
        holding one, is refused, not read as 0 or 1."""
        kinds = _types_in(cls.model_fields[info.field_name].annotation)
        if bool in kinds or not kinds & {int, float} or any(isinstance(k, type) and issubclass(k, BaseModel)
                                                             for k in kinds):
            return value  # booleans allowed, no numbers, or a sub-model that checks its own fields
        where = _first_boolean(value)
        if where is not None:
            place, found = where
            raise ValueError(f"expected a number{' at ' + place if place else ''}, got {str(found).lower()} "
                             "(YAML reads yes, no, on and off as booleans)")
        return value


def _types_in(annotation) -> set:
    """The annotation and every type inside it: list[float] | None -> {list[float] | None, list[float], float, None}"""
    kinds = {annotation}
    for arg in get_args(annotation):
        kinds |= _types_in(arg)
    return kinds


def _first_boolean(value, place: str = "") -> tuple[str, bool] | None:
    """(where, the boolean) of the first boolean in a value, a list or a mapping; None without one."""
    if isinstance(value, bool):
        return place, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list | tuple) else ()
    for key, item in items:
        found = _first_boolean(item, f"{place}.{key}" if place else str(key))
        if found is not None:
            return found
    return None


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


def read_yaml(path: str | Path) -> object:
    """A YAML file's data (safe_load: no tags, no code), or a ConfigError naming the file."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a YAML file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def load_yaml(path: str | Path, model: type[M], overrides: tuple[str, ...] = ()) -> M:
    """Load a YAML file (on its `base`, when it names one), apply `--set` overrides and validate."""
    data = read_layered(path)
    apply_overrides(data, overrides)
    return validate(model, data, str(path))


def read_layered(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """A config file's fields over those of its `base: other.yaml` (a path relative to the file), recursively:
    mappings merge key by key, anything else (a list, a number) replaces the base's."""
    path = Path(path)
    if path.resolve() in _seen:
        raise ConfigError(f"{path}: base files loop ({' -> '.join(str(p) for p in (*_seen, path.resolve()))})")
    data = read_yaml(path)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config is a mapping of fields, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: base: a path to another config file, got {base!r}")
    return _merged(read_layered(path.parent / base, (*_seen, path.resolve())), data)


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def apply_overrides(data: dict, overrides: tuple[str, ...]) -> None:
    """Apply `key.path=value` overrides in place, each value read as YAML (`--set train.steps=500`,
    `--set input.uri=/data/faces-{000..009}.tar`)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key.path=value")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        _set_path(data, key.strip(), value)


def _set_path(data: dict, dotted: str, value) -> None:
    """data[a][b][0][c] = value for "a.b.0.c"; a number indexes a list (operations.0.label.variants)."""
    keys = dotted.split(".")
    node = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"--set {dotted}: {'.'.join(keys[:depth]) or 'the job'} is a list of {len(node)}; "
                                  f"'{key}' is not an index in it")
            key = int(key)
        elif not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {'.'.join(keys[:depth])} is a value, not a mapping")
        if last:
            node[key] = value
        else:
            if not isinstance(node, list) and not isinstance(node.get(key), dict | list):
                node[key] = {}
            node = node[key]




# ----------------------------------------------------------------------------- model and training


class ModelConfig(StrictModel):
    """Network sizes. Every size reaches the networks as a plain constructor argument."""

    attributes: tuple[str, ...]  # label names, in the order of the attribute vector
    image_size: int = 64  # side of the square images the model translates
    noise_dim: int = 16  # r, the label path's noise
    code_channels: int = 16  # channels of the spatial latent code S
    code_size: int = 16  # side of S
    encoder_channels: int = 32  # E's first width (doubles per down block, up to 4x)
    encoder_blocks: int = 2  # E's residual blocks (at least one per down-sampling)
    mapping_channels: int = 128  # M's width at 4x4 (halves per up block)
    generator_channels: tuple[int, ...] = (32, 64, 128, 128)  # G: stem width, then one per down block
    spade_hidden: int = 32  # hidden width of each SPADE's gamma/beta convs
    # Compute SPADE's gamma/beta at the code's resolution, then resize (cheap); False = the authors'
    # way, convolving the code resized to every feature map.
    spade_at_code_resolution: bool = False
    # Skips from G's down path to its up path at every resolution above the bottleneck, each a 1x1 conv
    # that starts at zero (ours; False = the authors'): the source's fine detail (eyes, a fringe) need not
    # pass through the bottleneck, and a trained model gains them as an exact warm start.
    generator_skips: bool = False
    # G also predicts per pixel how much of the source to keep, m, and returns m * x + (1 - m) * its image
    # (ours; False = the authors'; HiSD learns masks too, in feature space): what an edit does not touch can
    # stay the source's pixels instead of G's re-drawing of them. Starts at m = 0.018 (networks.py, KeepMask).
    generator_keep_mask: bool = False
    disc_channels: int = 32  # D's first width (doubles per down block)
    disc_max_channels: int = 256
    # D's attribute head on a trunk of its own rather than the critic's (ours; False = the authors').
    disc_separate_attribute_trunk: bool = False
    # The critic also judges (image, target labels) pairs, a projection discriminator (ours; False = the
    # authors'): against G satisfying the attribute head with a patch instead of the edit.
    disc_projection: bool = False
    # A second attribute head beside D's, on the same trunk, trained on G's translations toward their target labels
    # (ours; TAC-GAN's twin classifier). G's attribute loss becomes the real head's cross-entropy toward the target
    # minus the twin's: it pays for what real faces with the attribute have and G's attempts lack, while the real
    # head learns from real faces alone. Shown the translations instead (losses.attribute_fake_in_d), the one head
    # stopped preferring G's band to real glasses by doubting real glasses too (P 0.87 -> 0.31;
    # docs/dev/issue26.md, fifteenth session). `train --init` from an export or a resume state
    # without it grows the twin fresh (train/warm_start.py). On the demo model it did not ship (sixteenth session).
    disc_twin_attribute_head: bool = False
    # The critic adds the mean of a patch map read at H/2, each cell seeing about 16 pixels (ours; pix2pix's and
    # SPADE's discriminators judge patches): a small edit that no real face has (a band across the eyes) is judged
    # by features of its own neighbourhood, not only by the whole face's. Its last layer starts at zero, so
    # `train --init` grows it into a model without one and the critic starts as it was. On the demo model it did
    # not ship (seventeenth session).
    disc_patch_critic: bool = False
    # The reference's part of S_ref, E(x_ref, d), averaged over the code's grid and spread back over it (ours; False =
    # the authors' spatial code, made for CelebA's aligned crops): what the reference wears, not where on its face,
    # which in a posed face is not where the source's is. Wherever E(x, d) stands for a reference (the source itself
    # in the reference path's self-reconstruction and in the way back), it is pooled the same way. No parameters, so
    # `train --init` takes any state. Shown the answers (capacity probe), it did not help glasses and lost hats' style
    # (docs/dev/issue26.md, eighteenth session).
    reference_code_pooled: bool = False
    # E also reads each code cell's raw pixels through one patch convolution with no normalisation, FiLM'd by d, and
    # adds what it reads to its code (ours; networks.py, PixelBranch): instance norm gives a thin thing's colour only
    # relative to the whole image's. Its output starts at zero, so `train --init` grows it into a model without one.
    # Shown the answers (capacity probe) it taught the reference path no more glasses than E alone
    # (docs/dev/issue26.md, nineteenth session).
    encoder_pixel_branch: bool = False

    @field_validator("attributes")
    @classmethod
    def _distinct(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if not names or len(set(names)) != len(names):
            raise ValueError("must list at least one attribute, each once")
        return names

    @model_validator(mode="after")
    def _geometry(self) -> ModelConfig:
        def power_of_two(n: int) -> bool:
            return n > 0 and n & (n - 1) == 0

        if not power_of_two(self.image_size) or self.image_size < 16:
            raise ValueError(f"image_size must be a power of two >= 16, got {self.image_size}")
        if not power_of_two(self.code_size) or not 4 <= self.code_size <= self.image_size:
            raise ValueError(f"code_size must be a power of two in [4, image_size], got {self.code_size}")
        if len(self.generator_channels) < 2:
            raise ValueError("generator_channels needs a stem width and at least one down block")
        return self


class LossWeights(StrictModel):
    """Weights of each loss term; the defaults are the authors'."""

    gradient_penalty: float = 10.0  # D: WGAN-GP over the three fakes
    r1: float = 1.0  # D: R1, 0.5 * mean ||grad D(real)||^2 (StarGAN v2's weight); train.adversarial nonsaturating_r1
    attribute_real: float = 1.0  # D: attribute BCE on real images
    critic_drift: float = 0.0  # D: mean(D(real)^2), ours (ProGAN uses 0.001): holds the critic's free offset near 0
    adversarial: float = 1.0  # G: WGAN, averaged over rand/ref/interp fakes
    attribute_fake: float = 10.0  # G: attribute BCE on the fakes
    reconstruction: float = 100.0  # G: L1 self-reconstruction with d = 0, both paths
    latent_cycle: float = 50.0  # G: re-encode each output and match its code
    closeness: float = 50.0  # G: L1(S_rand, S_ref), pulls the two paths together
    mode_seeking: float = 0.005  # G: diversity between two noises
    minimal_change: float = 0.0  # G: L1(translation, source), ours (0 = the authors'): edits stay local
    # G with a keep mask m (ours): mean(1 - m), the share of pixels G redraws; and mean(m * |G's image - x|),
    # its own image off the source where it keeps the source. Per pixel they cost keep_area * (1 - m) +
    # keep_agreement * m * |G - x|, linear in m: keep where |G - x| < keep_area / keep_agreement, redraw where more.
    keep_area: float = Field(0.0, ge=0)
    keep_agreement: float = Field(0.0, ge=0)
    # G with a keep mask (ours): L1(G's own image, x) on the self-reconstructions. There the mask keeps every
    # pixel, so without this term nothing asks G's own image to be a face, and what G paints where an edit
    # opens the mask is a haze of the attribute's colour (docs/dev/issue26.md, "G's own image").
    raw_reconstruction: float = Field(0.0, ge=0)
    # D (ours): attribute BCE on the translations, toward the *source's* values of the attributes they were asked
    # to change. Trained on reals alone, the head accepts whatever pattern G's attribute loss finds (the demo
    # model's band across the eyes reads as glasses more surely than real glasses do); shown G's attempts as
    # not-yet, it keeps learning what separates them from real ones, and G's attribute loss then asks for that.
    attribute_fake_in_d: float = Field(0.0, ge=0)
    # G (ours; StarGAN v2's cycle-consistency): L1(G(y, E(y, d) + E(x, -d)), x) for each translation y of x, i.e. y
    # translated back with the source as its reference. E(x, -d) must then carry the source's own style of what
    # changed (its glasses), which is what the reference path needs E(x_ref, d) to carry; nothing else asks for that
    # (docs/dev/issue26.md, "the style probe").
    image_cycle: float = Field(0.0, ge=0)
    # G (ours; the authors' mode seeking, on the reference path): 1 / (mean |y1 - y2| / mean |x_ref1 - x_ref2|) for
    # one source translated with two references that share the target's changed attributes. Nothing else asks the
    # reference path's output to differ when the reference does, and the latent cycle then asks the output to show
    # what E read from its reference (docs/dev/issue26.md, "Two references").
    reference_mode_seeking: float = Field(0.0, ge=0)
    # G (ours): the image cycle's way back alone, on translations held fixed, and weighted by where each
    # translation changed its source. The image cycle lets y keep traces of x that the way back copies (the
    # keep mask makes that cheap); here what y lacks must come from E(x, -d), x's own style of what changed,
    # which is what the reference path needs E(x_ref, d) to carry (docs/dev/issue26.md, "Restoration").
    reference_restoration: float = Field(0.0, ge=0)
    # G (ours; one side of DRIT's cross-cycle): x_ref stripped of what d changed (by G, with the source as the
    # reference) and held fixed, then given it back with the reference path's output y as the reference, against
    # x_ref where the stripping changed it (RestorationLoss). x_ref's own style of what changed can then reach the
    # restored image only through y: the one term that pays y, in pixels, to show the reference's style. The latent
    # cycle asks it in codes, and an E that ignores style meets that. At 5, beside restoration 5, it moved nothing
    # in a 100-minute fine-tune (docs/dev/issue26.md, "The cross-cycle").
    reference_cross_cycle: float = Field(0.0, ge=0)
    # G (ours): the reference path's latent cycle in units of how far apart two references' codes are,
    # mean |E(y, d) - E(x_ref, d)| / mean |E(x_ref, d) - E(x_ref', d)| (the denominator held fixed). The plain
    # cycle is L1 on codes that E keeps small (mean |code| 0.03 in the demo model), where the references' styles
    # differ by 0.002, and it stood at 0.002 too: G's output was no nearer its own reference's code than another
    # reference's, while that code read out the reference's hat colour on 99 % of faces (docs/dev/issue26.md,
    # "Where the style is lost"). 1: no nearer its own reference's code than another's in the batch. At 1 in a
    # 57-minute fine-tune it lowered style match 3 points: E moved its reference codes toward what G draws.
    reference_cycle_relative: float = Field(0.0, ge=0)
    # G (ours; StarGAN v2's style reconstruction, its reader held fixed): the relative cycle above with E held fixed
    # on both sides, the target E(x_ref, d) and the weights that read y, so that only y's pixels (what G draws, and
    # the code it is drawn from) can lower it. E, left free, met the relative cycle by moving its reference codes
    # toward what G draws (docs/dev/issue26.md, eleventh session). At 1 in a 101-minute fine-tune it did not fall
    # (0.45 → 0.44) and lowered style match 2.5 points: G did not learn to draw what E reads.
    reference_cycle_fixed_reader: float = Field(0.0, ge=0)
    # G (ours; a contrastive style reconstruction): the reference path's output y, read by E held fixed, must lie
    # as far toward its reference's code E(x_ref, d) as that code lies from E(x_ref2, d), a second reference with
    # the same changed attributes (StyleContrastLoss). Both codes carry the attribute difference, so the axis
    # between them is the references' style alone; the relative cycle's denominator is mostly that shared
    # difference, which a style-blind y already scored 0.45 on. At 1 in an 80-minute fork of the demo model it rose
    # (0.76 → 0.92) and left style match where it was (−0.6 ± 0.9 points), while the reference path's reduction
    # rose 0.029 ± 0.005 (docs/dev/issue26.md, twelfth session). That run also counted rows with d = 0, since left out.
    reference_style_contrast: float = Field(0.0, ge=0)
    # G (ours; a pixel bridge from the label path to the reference path): the label path's drawing of noise r on
    # one source, as the reference for another source of the batch, against the label path's drawing of the same
    # noise on that source (RestorationLoss's weighting; both drawings held fixed). M(r, d) does not read the face,
    # so the pair shares the attribute's style and differs in the face: the cross-face pairs that taught the
    # reference path in minutes when they came from the truth (docs/dev/issue26.md, fourteenth session), here with
    # no truth and no removal. Closeness and the latent cycle ask the same in codes, where their pull on the
    # drawings is a few per mille. Both paths only. Its pairs alone, in a 20-minute probe from the demo model,
    # taught the reference path to draw the label path's band across the eyes whatever the reference (Eyeglasses
    # -0.08 -> -0.17 against the truth; docs/dev/issue26.md, fifteenth session): a bridge worth crossing only once
    # the label path draws the attribute.
    reference_from_label: float = Field(0.0, ge=0)
    # G (ours): BCE toward the targets of a fixed classifier, train.guide, on the translations. D's attribute head
    # is a plain classifier, and a plain classifier's gradient asks for what fools it: the demo model's band and
    # smudges. A classifier trained adversarially (train-judge --adversarial-eps) holds its answer near every face,
    # and climbing its gradient in pixels drew frames around the eyes where a plain one's drew noise
    # (docs/dev/issue26.md, twenty-first session). Trained on the labelled reals D sees, it needs no counterfactual.
    attribute_guide: float = Field(0.0, ge=0)

    @property
    def needs_second_reference(self) -> bool:
        """Whether a step's batch must carry x_ref2, a second reference sharing x_ref's changed attributes."""
        return self.reference_mode_seeking > 0 or self.reference_style_contrast > 0


class TrainConfig(StrictModel):
    """How to train; the defaults are the authors' unless a comment says otherwise."""

    batch_size: int = Field(60, gt=0)
    steps: int = Field(50_000, gt=0)  # generator steps
    lr: float = Field(2e-4, gt=0)
    # D's learning rate, when it differs from G's (ours; None = the authors' shared lr). A faster D
    # learns the attribute head sooner, and G's attribute loss is only as useful as that head.
    d_lr: float | None = Field(None, gt=0)
    beta1: float = 0.5
    beta2: float = 0.999
    warmup_steps: int = Field(0, ge=0)  # linear lr warm-up (ours; 0 = theirs)
    decay_start: int | None = None  # linear lr decay to 0 from this step to `steps` (None = constant)
    d_steps_per_g_step: int = Field(5, gt=0)
    # The adversarial loss: the authors' WGAN with a gradient penalty, or (ours, as StarGAN v2 trains) the
    # non-saturating logistic loss with an R1 penalty on reals, usually at one D step per G step.
    adversarial: Literal["wgan_gp", "nonsaturating_r1"] = "wgan_gp"
    # The faces D's phase takes as real (ours; sources = the authors'): each step's sources, or its references,
    # real faces chosen to have the targets the fakes were made for. From the sources, glasses (6.5 % of faces)
    # are rarer among reals than among fakes, and the critics measured score real clear frames as unreal as G's
    # band (docs/dev/issue26.md, seventeenth session): from the references, wearing them is not itself a tell.
    d_reals: Literal["sources", "references"] = "sources"
    # Ramp the closeness and latent-cycle weights up from 0 over this many steps (ours; 0 = the
    # authors'). At full weight from step 0 they pull every code to one constant before the codes
    # carry any information, and G learns to ignore them.
    latent_warmup_steps: int = Field(0, ge=0)
    # An autoencoder warm start (ours; 0 = the authors'): the first steps train E, M and G on self-reconstruction
    # alone (d = 0, both paths), without D, so G can redraw a face before it must learn to edit one.
    autoencoder_steps: int = Field(0, ge=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)  # EMA of E, M, G (ours: the export uses it)
    single_flip_fraction: float = Field(0.5, ge=0, le=1)  # targets changing one attribute, else a permutation
    losses: LossWeights = LossWeights()
    # Which encoding paths to train (ours, for the paper's ablation): both, tied by the closeness and
    # cycle links (the method), or the label path (LEM) or the reference path (REM) alone.
    paths: Literal["both", "label", "reference"] = "both"
    # DiffAugment (ours; empty = the authors'): D sees every image, real or fake, shifted and/or with a
    # square cut out, so its attribute head cannot rest on one small patch that G could paint.
    diff_augment: tuple[Literal["translation", "cutout"], ...] = ()
    seed: int = 0
    log_every: int = Field(10, gt=0)
    sample_every: int = Field(500, gt=0)
    checkpoint_every: int = Field(500, gt=0)
    shuffle_buffer: int = Field(2000, gt=0)
    loader_workers: int = Field(1, ge=0)  # processes decoding/rendering in the background
    compile: bool = False  # torch.compile the networks (CUDA)
    # The autocast a step runs under (ours): "auto" is bf16 on CUDA and float32 (exact) on the CPU; "bfloat16"
    # asks for it on the CPU too, 1.38 times faster on a 2-core CPU with bf16 instructions (docs/TRAINING.md).
    precision: Literal["auto", "float32", "bfloat16"] = "auto"
    synth: SynthConfig = SynthConfig()  # what `--data synth` renders
    # Shard data only (ours): raise each named attribute's share of training faces to at least this rate by
    # repeating the faces that carry it (the shuffle buffer spreads the repeats). A rare attribute then reaches
    # G and D as often as the recipe asks, as train.synth.priors does for `--data synth`.
    oversample: dict[str, float] = Field(default_factory=dict)
    # A judge file (train-judge --adversarial-eps) knowing every model attribute, for losses.attribute_guide (ours).
    guide: str | None = None

    @field_validator("oversample")
    @classmethod
    def _rates_below_one(cls, rates: dict[str, float]) -> dict[str, float]:
        for name, rate in rates.items():
            if not 0.0 < rate < 1.0:
                raise ValueError(f"{name}: a rate in (0, 1), got {rate}")
        return rates

    @model_validator(mode="after")
    def _guide_and_its_weight(self) -> TrainConfig:
        if bool(self.guide) != bool(self.losses.attribute_guide):
            raise ValueError("train.guide (a classifier file) and train.losses.attribute_guide (its weight) "
                             "go together: set both or neither")
        return self


class RunConfig(StrictModel):
    """A training config file: the model and how to train it."""

    model: ModelConfig
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _keep_terms_need_a_keep_mask(self) -> RunConfig:
        w = self.train.losses
        if (w.keep_area or w.keep_agreement or w.raw_reconstruction) and not self.model.generator_keep_mask:
            raise ValueError("train.losses.keep_area, keep_agreement and raw_reconstruction weigh G's keep mask: "
                             "they need model.generator_keep_mask: true")
        return self

    @model_validator(mode="after")
    def _oversample_model_attributes(self) -> RunConfig:
        unknown = sorted(set(self.train.oversample) - set(self.model.attributes))
        if unknown:
            raise ValueError(f"train.oversample names {unknown}, not among model.attributes "
                             f"{list(self.model.attributes)}")
        return self


class JudgeConfig(StrictModel):
    """The attribute judge: a small CNN classifier, independent of the GAN's discriminator."""

    attributes: tuple[str, ...]
    image_size: int = 64
    channels: tuple[int, ...] = (24, 48, 96, 192)  # one stride-2 stage each
