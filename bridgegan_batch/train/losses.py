"""BridgeGAN's loss terms as objects, and the two phases (D and G) that combine them.

Each term is a small callable with a unit test; `BridgeGANLoss` owns the phases, so the training
loop only orchestrates: sample a batch, run a phase, step an optimiser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from bridgegan_batch.config import LossWeights, TrainConfig
from bridgegan_batch.errors import ConfigError
from bridgegan_batch.model.bridge import BridgeGenerator
from bridgegan_batch.model.classifier import Judge
from bridgegan_batch.model.networks import Discriminator, keep_blend
from bridgegan_batch.train.diff_augment import check_policy, diff_augment


class WassersteinLoss:
    """WGAN critic and generator losses."""

    def critic(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return fake_scores.mean() - real_scores.mean()

    def generator(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()


class NonSaturatingLoss:
    """The logistic GAN loss: D minimises softplus(-real) + softplus(fake), G softplus(-fake)."""

    def critic(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()

    def generator(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_scores).mean()


class R1Penalty:
    """0.5 * ||grad_x D(x)||^2 on real images, averaged over the batch (Mescheder et al. 2018)."""

    def __call__(self, scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        (grad,) = torch.autograd.grad(scores.sum(), real, create_graph=True)  # [B, 3, H, W]
        return 0.5 * grad.pow(2).flatten(1).sum(dim=1).mean()


class CriticDrift:
    """mean(D(real)^2) (ProGAN's drift term): the WGAN loss is blind to a constant added to every
    score, so without it the critic's offset wanders, and far from 0 low-precision scores lose the gap."""

    def __call__(self, real_scores: torch.Tensor) -> torch.Tensor:
        return real_scores.pow(2).mean()


class GradientPenalty:
    """(||grad_x D(x_hat)|| - 1)^2 at random points x_hat between real and fake images."""

    def interpolate(self, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        # real, fake: [B, 3, H, W]; eps: [B] in [0, 1]
        return (eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake).requires_grad_(True)

    def __call__(self, scores: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # [B, 3, H, W]
        return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


class AttributeLoss:
    """Per-attribute binary cross-entropy of D's attribute head, averaged over labelled entries."""

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # logits, labels: [B, N]; mask: [B, N] bool, False where a label is missing
        bce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        if mask is None:
            return bce.mean()
        return (bce * mask).sum() / mask.sum().clamp(min=1)


class GuideLoss:
    """BCE toward the targets of a fixed classifier's logits on the translations (train.guide), over the model's
    attributes in its order. Its weights never train: the gradient reaches the images alone."""

    def __init__(self, net: nn.Module, columns: Sequence[int]):
        self.net = net.eval().requires_grad_(False)
        self.columns = list(columns)  # the guide's column of each model attribute

    @classmethod
    def load(cls, path: str | Path, attributes: Sequence[str], device: torch.device) -> GuideLoss:
        """The guide in judge file `path`, read for the model's `attributes` (each of which it must know)."""
        judge = Judge.load(path, device=str(device))
        missing = [a for a in attributes if a not in judge.config.attributes]
        if missing:
            raise ConfigError(f"train.guide {path}: the classifier does not know the model's attributes {missing} "
                              f"(it knows {list(judge.config.attributes)})")
        return cls(judge.net, [judge.config.attributes.index(a) for a in attributes])

    def __call__(self, images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # images: [B, 3, H, W]; target: [B, N] in the model's attribute order
        return F.binary_cross_entropy_with_logits(self.net(images)[:, self.columns].float(), target)


class ReconstructionLoss:
    """L1 between an image translated with d = 0 and the image itself."""

    def __call__(self, reconstruction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(reconstruction, x)


class RestorationLoss:
    """L1 between an image restored from its translation and the image, weighted by where the translation
    changed it (ours): an edit covers a few per cent of the pixels, and under plain L1 returning the translation
    unchanged behind the keep mask costs little. The weights sum to 1 over the batch, so a translation that changed
    more counts more, and one that changed nothing adds nothing."""

    eps = 1e-8

    def __call__(self, restored: torch.Tensor, source: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
        # restored, source, translation: [B, 3, H, W]
        where = (translation - source).abs().mean(dim=1, keepdim=True).detach()  # [B, 1, H, W]
        error = (restored - source).abs().mean(dim=1, keepdim=True)  # [B, 1, H, W]
        return (where * error).sum() / (where.sum() + self.eps)


class MinimalChangeLoss:
    """L1 between a translation and its source (ours): every pixel the target does not need costs, so
    an edit stays where its attribute is instead of washing over the face (hair colour spilling into
    bangs, marks at the eyes that read as glasses)."""

    def __call__(self, translation: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(translation, source)


class KeepMaskLoss:
    """Ties G's keep mask m to its own image g (ours). G's other losses see only the blend m*x + (1-m)*g, so a
    mask half open everywhere with g over-drawn to make up serves them as well as one shut off the edit and
    open on it; the first keep-mask runs learned the former (m about 0.7 on every pixel,
    docs/dev/training_log.md), which caps how far any pixel can move.
    -> (area: mean(1 - m); disagreement: mean(m * |g - x|))"""

    def __call__(self, keep: torch.Tensor, image: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # keep: [B, 1, H, W] in (0, 1); image, source: [B, 3, H, W]
        return (1 - keep).mean(), (keep * (image - source).abs()).mean()


class LatentCycleLoss:
    """Re-encode an output as a reference with +d; its code must match the code that made it."""

    def __call__(self, reencoded: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(reencoded, code)


class RelativeLatentCycleLoss:
    """The latent cycle in units of the codes' own spread: mean |re-encoded - code| over mean |code - another
    sample's code| (held fixed). 1: no nearer its own code than another sample's; 0: its own. Unchanged when E
    scales every code, which is how E meets the plain L1 cycle without the output showing anything."""

    eps = 1e-8

    def __call__(self, reencoded: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        # reencoded, code: [B, C, H, W], B >= 2
        if code.shape[0] < 2:
            raise ValueError("the relative latent cycle compares codes across a batch: it needs at least 2 samples")
        spread = (code - code.roll(1, dims=0)).abs().mean().detach()
        return (reencoded - code).abs().mean() / (spread + self.eps)


class StyleContrastLoss:
    """Where a code lies on the axis between two references' codes that share the changed attributes: 1 at the
    positive's, -1 at the negative's, 0 halfway; what both codes share (the attribute difference) drops out. The
    loss is mean max(0, 1 - position) over pairs whose references differ: 1 for a reading blind to which reference
    it was drawn from, 0 once it reads as far toward its own reference as that reference's code."""

    eps = 1e-12

    def __call__(self, read: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                 apart: torch.Tensor) -> torch.Tensor:
        # read, positive, negative: [B, C, H, W]; apart: [B] bool, the two references are different faces
        axis = (positive - negative).flatten(1)  # [B, CHW]
        offset = (read - (positive + negative) / 2).flatten(1)
        position = 2 * (offset * axis).sum(1) / (axis.pow(2).sum(1) + self.eps)  # [B]
        hinge = torch.where(apart, (1 - position).clamp(min=0), torch.zeros_like(position))
        return hinge.sum() / apart.sum().clamp(min=1)


class ClosenessLoss:
    """L1(S_rand, S_ref) = L1(M(r, d), E(x_ref, d)): the two paths land in one embedding space."""

    def __call__(self, label_code: torch.Tensor, reference_code: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(label_code, reference_code)


class ModeSeekingLoss:
    """MSGAN: 1 / (image distance / noise distance) between two noises' outputs; rewards diversity."""

    eps = 1e-5

    def __call__(self, fake1: torch.Tensor, fake2: torch.Tensor, r1: torch.Tensor, r2: torch.Tensor) -> torch.Tensor:
        apart = (r1 - r2).abs().mean()
        ratio = (fake1 - fake2).abs().mean() / (apart + self.eps)
        # Inputs that are all equal (two references that are one face) leave nothing to seek.
        return torch.where(apart > 0, 1.0 / (ratio + self.eps), torch.zeros_like(ratio))


@dataclass
class Batch:
    """One training step's inputs, all sampled by the loop from its generator."""

    x: torch.Tensor  # [B, 3, H, W] in [-1, 1]
    labels: torch.Tensor  # [B, N] float {0, 1}
    target: torch.Tensor  # [B, N] float {0, 1}
    x_ref: torch.Tensor  # [B, 3, H, W], a face with the target attributes
    r1: torch.Tensor  # [B, R] noise
    r2: torch.Tensor  # [B, R] a second noise, for mode seeking
    alpha: torch.Tensor  # [B] interpolation weights in [0, 1]
    eps: torch.Tensor  # [3B] gradient-penalty mixing weights in [0, 1]
    augment_seed: int = 0  # seeds the augmentation of what D sees (when the loss has a policy)
    # [B, 3, H, W]: a second reference sharing x_ref's values on the changed attributes (x_ref itself where none
    # does); for the reference path's mode seeking
    x_ref2: torch.Tensor | None = None
    ref_labels: torch.Tensor | None = None  # [B, N]: x_ref's own labels (D's reals when train.d_reals is references)

    @property
    def d(self) -> torch.Tensor:
        return self.target - self.labels  # [B, N] in {-1, 0, 1}


def _mix(a: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    return alpha[:, None, None, None] * a + (1 - alpha[:, None, None, None]) * b


def partners(labels: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row i, the nearest other row j (in batch order, cyclically) whose labels equal row i's on every
    attribute d_i changes, so that d_i applies to x_j as it does to x_i; and which rows have one and change
    something. labels, d: [B, N] -> partner [B] (long), rows [B] (bool)"""
    b = labels.shape[0]
    changed = d != 0  # [B, N]
    same = (labels[None, :, :] == labels[:, None, :]) | ~changed[:, None, :]  # [B(i), B(j), N]
    offset = (torch.arange(b)[None, :] - torch.arange(b)[:, None]) % b  # [B, B]: j - i, cyclically
    fits = same.all(-1) & (offset > 0)  # [B, B]
    priority = torch.where(fits, b - offset, torch.zeros_like(offset))  # the nearest fitting partner ranks first
    return priority.argmax(1), fits.any(1) & changed.any(1)


PATHS = ("both", "label", "reference")
D_REALS = ("sources", "references")
ADVERSARIAL = ("wgan_gp", "nonsaturating_r1")


class BridgeGANLoss:
    """The discriminator and generator phases of BridgeGAN (DESIGN.md section 2).

    `paths` trains both encoding paths tied by the closeness and cycle links ("both", the method), or
    one path alone ("label": LEM only, "reference": REM only), for the paper's ablation.
    """

    def __init__(self, generator: BridgeGenerator, discriminator: Discriminator, weights: LossWeights,
                 paths: str = "both", augment: Sequence[str] = (), adversarial: str = "wgan_gp",
                 d_reals: str = "sources", guide: GuideLoss | None = None):
        if paths not in PATHS:
            raise ValueError(f"paths must be one of {PATHS}, got {paths!r}")
        if d_reals not in D_REALS:
            raise ValueError(f"d_reals must be one of {D_REALS}, got {d_reals!r}")
        if adversarial not in ADVERSARIAL:
            raise ValueError(f"adversarial must be one of {ADVERSARIAL}, got {adversarial!r}")
        if bool(guide) != bool(weights.attribute_guide):
            raise ValueError("losses.attribute_guide needs a guide classifier, and a guide needs its weight")
        self.G, self.D, self.w, self.paths, self.d_reals = generator, discriminator, weights, paths, d_reals
        self.guide = guide
        self.augment = check_policy(augment)
        self.adversarial = adversarial
        self.gan = WassersteinLoss() if adversarial == "wgan_gp" else NonSaturatingLoss()
        self.gp, self.r1, self.attr, self.drift = GradientPenalty(), R1Penalty(), AttributeLoss(), CriticDrift()
        self.rec, self.cycle = ReconstructionLoss(), LatentCycleLoss()
        self.close, self.ms, self.change = ClosenessLoss(), ModeSeekingLoss(), MinimalChangeLoss()
        self.keep, self.restore, self.relative_cycle = KeepMaskLoss(), RestorationLoss(), RelativeLatentCycleLoss()
        self.contrast = StyleContrastLoss()

    @classmethod
    def for_training(cls, generator: BridgeGenerator, discriminator: Discriminator, train: TrainConfig,
                     attributes: Sequence[str] = ()) -> BridgeGANLoss:
        """The loss a training config asks for: its weights, paths, augmentation, adversarial form and guide (read
        for the model's `attributes`)."""
        guide = None
        if train.guide:
            guide = GuideLoss.load(train.guide, attributes, next(generator.parameters()).device)
        return cls(generator, discriminator, train.losses, train.paths, train.diff_augment, train.adversarial,
                   train.d_reals, guide)

    @property
    def kinds(self) -> int:
        """Translations per source a step makes: rand, ref and interp, or one path's."""
        return 3 if self.paths == "both" else 1

    def fakes(self, batch: Batch) -> torch.Tensor:
        """The step's translations, stacked: rand, ref, interp (or one path's). -> [kB, 3, H, W]"""
        return self.G(batch.x.repeat(self.kinds, 1, 1, 1), self.fake_codes(batch))

    def fake_codes(self, batch: Batch) -> torch.Tensor:
        """The codes of `fakes`, in its order. -> [kB, Cs, Hs, Ws]"""
        d = batch.d
        src = self.G.source_code(batch.x, d)  # [B, Cs, Hs, Ws]
        if self.paths == "label":
            return src + self.G.label_code(batch.r1, d)
        if self.paths == "reference":
            return src + self.G.reference_code(batch.x_ref, d)
        lab, ref = self.G.label_code(batch.r1, d), self.G.reference_code(batch.x_ref, d)
        return torch.cat([src + lab, src + ref, src + _mix(lab, ref, batch.alpha)])  # [3B, ...]

    def _reals(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The faces D's phase takes as real, with their labels: the sources (the authors'), or the references,
        whose attributes are the targets the fakes were made for, so that an attribute rare among the sources
        (glasses on 6.5 % of faces) is not itself evidence of a fake. -> [B, 3, H, W], [B, N]"""
        if self.d_reals == "sources":
            return batch.x, batch.labels
        if batch.ref_labels is None:
            raise ValueError("train.d_reals: references needs batches with the references' labels (ref_labels)")
        return batch.x_ref, batch.ref_labels

    def _seen_by_d(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        """Images as D sees them: augmented when the loss has a policy (DiffAugment), else as they are."""
        if not self.augment:
            return images
        return diff_augment(images, self.augment, torch.Generator().manual_seed(seed))

    # Both phases return (loss, {term: detached 0-d tensor}); reading the terms (.item()) waits for
    # the device, so the loop does it only on the steps it logs.

    def discriminator_phase(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.no_grad():
            fakes = self.fakes(batch)  # [kB, 3, H, W]
        b, k = batch.x.shape[0], self.kinds
        real, real_labels = self._reals(batch)
        if self.augment:  # one draw for reals and fakes together
            real, fakes = self._seen_by_d(torch.cat([real, fakes]), batch.augment_seed).split([b, k * b])
        # Each image is scored with its labels: the real ones for reals, the target for fakes and x_hat
        # (used only by a projection critic).
        target_k = batch.target.repeat(k, 1)
        if self.adversarial == "wgan_gp":
            x_hat = self.gp.interpolate(real.repeat(k, 1, 1, 1), fakes, batch.eps[: k * b])
            scores = self.D.critic(torch.cat([real, fakes, x_hat]),
                                   torch.cat([real_labels, target_k, target_k]))  # [(1 + 2k)B]
            real_s, fake_s, hat_s = scores[:b], scores[b : (1 + k) * b], scores[(1 + k) * b :]
            penalty, penalty_name, penalty_weight = self.gp(hat_s, x_hat), "d/gp", self.w.gradient_penalty
        else:
            real = real.detach().requires_grad_(True)
            scores = self.D.critic(torch.cat([real, fakes]), torch.cat([real_labels, target_k]))  # [(1 + k)B]
            real_s, fake_s = scores[:b], scores[b:]
            penalty, penalty_name, penalty_weight = self.r1(real_s, real), "d/r1", self.w.r1
        adv = self.gan.critic(real_s, fake_s)
        attr = self.attr(self.D.classify(real), real_labels)
        loss = adv + penalty_weight * penalty + self.w.attribute_real * attr
        stats = {"d/adv": adv.detach(), penalty_name: penalty.detach(), "d/attr_real": attr.detach(),
                 "d/real_score": real_s.detach().mean()}  # the mean real score shows the offset's drift
        if self.w.critic_drift:
            loss = loss + self.w.critic_drift * self.drift(real_s)
        if self.D.twin is not None:  # the twin head learns G's translations as their targets (TAC-GAN)
            twin = self.attr(self.D.classify_with_twin(fakes)[1], target_k)
            loss = loss + self.w.attribute_real * twin
            stats["d/attr_twin"] = twin.detach()
        if self.w.attribute_fake_in_d:  # the changed attributes of each translation read as the source's
            changed = (batch.d != 0).repeat(k, 1)  # [kB, N]
            attr_fake = self.attr(self.D.classify(fakes), batch.labels.repeat(k, 1), changed)
            loss = loss + self.w.attribute_fake_in_d * attr_fake
            stats["d/attr_fake"] = attr_fake.detach()
        return loss, stats

    def reconstruction_phase(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Self-reconstruction alone (d = 0) on the paths trained, weighted as in G's phase: the autoencoder
        warm start, which needs no D."""
        x, zero = batch.x, torch.zeros_like(batch.d)
        src0 = self.G.source_code(x, zero)
        codes = ([src0 + self.G.label_code(batch.r1, zero)] if self.paths != "reference" else []) \
            + ([src0 + self.G.as_reference(src0)] if self.paths != "label" else [])
        recs = self.G(x.repeat(len(codes), 1, 1, 1), torch.cat(codes))  # [len(codes) B, 3, H, W]
        rec = self.rec(recs, x.repeat(len(codes), 1, 1, 1))
        return self.w.reconstruction * rec, {"g/rec": rec.detach()}

    def _reference_mode_seeking(self, batch: Batch, src: torch.Tensor, ref_out: torch.Tensor) -> torch.Tensor:
        """Mode seeking between two references: the source translated with x_ref2 against `ref_out`, its
        translation with x_ref (a second G pass of B images). src: [B,Cs,Hs,Ws]; ref_out: [B,3,H,W] -> 0-d"""
        if batch.x_ref2 is None:
            raise ValueError("train.losses.reference_mode_seeking needs batches with a second reference (x_ref2)")
        second = self.G(batch.x, src + self.G.reference_code(batch.x_ref2, batch.d))  # [B, 3, H, W]
        return self.ms(ref_out, second, batch.x_ref, batch.x_ref2)

    def _reference_restoration(self, fakes: torch.Tensor, src: torch.Tensor, d: torch.Tensor,
                               sources: torch.Tensor) -> torch.Tensor:
        """Each translation y, held fixed, translated back with its source x as the reference, G(y, E(y, d) +
        E(x, -d)), against x where y differs from it. Held fixed, y is not paid to keep traces of x for the way
        back (as the image cycle pays it), so what y lacks must come from the reference code E(x, -d): x's own
        style of what changed. fakes, sources: [kB, 3, H, W]; src = E(x, -d): [B, Cs, Hs, Ws] -> 0-d"""
        held, k = fakes.detach(), fakes.shape[0] // src.shape[0]
        # y is the source of the way back (E(y, -d_back) = E(y, d)) and x its reference (E(x, d_back) = src)
        restored = self.G(held, self.G.encoder(held, d.repeat(k, 1)) + self.G.as_reference(src).repeat(k, 1, 1, 1))
        return self.restore(restored, sources, held)

    def _reference_cross_cycle(self, batch: Batch, src: torch.Tensor, ref_raw: torch.Tensor,
                               output_code: torch.Tensor) -> torch.Tensor:
        """x_ref stripped of what d changed, G(x_ref, E(x_ref, d) + E(x, -d)) (the source as the reference), held
        fixed, then given it back with the reference path's output y as the reference, G(bare, E(bare, -d) +
        E(y, d)), against x_ref where the stripping changed it. src = E(x, -d), ref_raw = E(x_ref, d) (x_ref as the
        source: not pooled), output_code = E(y, d): [B, Cs, Hs, Ws] -> 0-d"""
        with torch.no_grad():
            bare = self.G(batch.x_ref, ref_raw + self.G.as_reference(src))  # [B, 3, H, W]
        restored = self.G(bare, self.G.source_code(bare, batch.d) + self.G.as_reference(output_code))
        return self.restore(restored, batch.x_ref, bare)

    def _reference_from_label(self, batch: Batch, label_out: torch.Tensor, lab: torch.Tensor) -> torch.Tensor:
        """The label path's drawing y_i = G(x_i, E(x_i, -d_i) + M(r_i, d_i)) as the reference for another source x_j
        of the batch, against the label path's drawing of the same noise on x_j (both held fixed): M(r, d) does not
        read the face, so the two share the attribute's style and differ in the face, a cross-face pair without a
        truth. x_j starts where x_i did on every attribute d_i changes. label_out: [B, 3, H, W]; lab = M(r, d):
        [B, Cs, Hs, Ws] -> 0-d"""
        partner, rows = partners(batch.labels, batch.d)
        if not rows.any():
            return label_out.new_zeros(())
        d, x = batch.d[rows], batch.x[partner[rows]]  # [P, N], [P, 3, H, W]
        codes = self.G.encoder(torch.cat([x, label_out[rows].detach()]), torch.cat([-d, d]))  # [2P, Cs, Hs, Ws]
        source, read = codes.chunk(2)
        read = self.G.as_reference(read)
        with torch.no_grad():
            answer = self.G(x, source + lab[rows])  # [P, 3, H, W]
        return self.restore(self.G(x, source + read), answer, x)  # weighted where the answer differs from x

    def _read_by_fixed_encoder(self, images: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """E(images, d) with E's weights held fixed: the gradient reaches the images alone. -> [B, Cs, Hs, Ws]"""
        held = {name: p.detach() for name, p in self.G.encoder.named_parameters()}
        return functional_call(self.G.encoder, held, (images, d))

    def _reference_cycle_fixed_reader(self, output: torch.Tensor, d: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """The relative cycle of the reference path's output y, read by E's weights held fixed against E(x_ref, d)
        held fixed: only y's pixels can lower it. output: [B, 3, H, W]; ref = E(x_ref, d): [B, Cs, Hs, Ws] -> 0-d"""
        return self.relative_cycle(self.G.as_reference(self._read_by_fixed_encoder(output, d)), ref.detach())

    def _reference_style_contrast(self, batch: Batch, output: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """The reference path's output y, read by E held fixed, placed between its reference's code E(x_ref, d) and
        a second reference's E(x_ref2, d), both held fixed (StyleContrastLoss). output: [B, 3, H, W];
        ref = E(x_ref, d): [B, Cs, Hs, Ws] -> 0-d"""
        if batch.x_ref2 is None:
            raise ValueError("train.losses.reference_style_contrast needs batches with a second reference (x_ref2)")
        with torch.no_grad():
            other = self.G.reference_code(batch.x_ref2, batch.d)  # [B, Cs, Hs, Ws]
        # [B]: rows with two different references and something to change (with d = 0 the second reference is any
        # face, and the axis between the two codes is not a style)
        apart = ((batch.x_ref - batch.x_ref2).flatten(1).abs().amax(1) > 0) & (batch.d != 0).any(1)
        return self.contrast(self.G.as_reference(self._read_by_fixed_encoder(output, batch.d)), ref.detach(), other,
                             apart)

    def generator_phase(self, batch: Batch,
                        latent_scale: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """G's losses; `latent_scale` multiplies the closeness and latent-cycle weights (warm-up)."""
        x, d, b = batch.x, batch.d, batch.x.shape[0]
        zero = torch.zeros_like(d)
        no_term = x.new_zeros(())
        # One encoder pass for the codes the step needs: E(x,-d), E(x,0), and E(x_ref,d) unless LEM only.
        with_ref = self.paths != "label"
        enc = self.G.encoder(torch.cat([x, x, batch.x_ref] if with_ref else [x, x]),
                             torch.cat([-d, zero, d] if with_ref else [-d, zero]))
        src, src0 = enc[:b], enc[b : 2 * b]
        ref_raw = enc[2 * b :] if with_ref else None  # E(x_ref, d), before as_reference
        ref = None if ref_raw is None else self.G.as_reference(ref_raw)
        if self.paths != "reference":
            lab, lab2 = self.G.label_code(torch.cat([batch.r1, batch.r2]), torch.cat([d, d])).chunk(2)
            lab0 = self.G.label_code(batch.r1, zero)
        if self.paths == "both":
            mix = _mix(lab, ref, batch.alpha)
            codes = [src + lab, src + ref, src + mix,  # the three translations
                     src + lab2,  # a second noise, for mode seeking
                     src0 + lab0, src0 + self.G.as_reference(src0)]  # self-reconstruction (d = 0), both paths
        elif self.paths == "label":
            codes = [src + lab, src + lab2, src0 + lab0]
        else:
            codes = [src + ref, src0 + self.G.as_reference(src0)]
        sources = x.repeat(len(codes), 1, 1, 1)
        image, keep = self.G.draw(sources, torch.cat(codes))  # [len(codes) B, 3, H, W], [len(codes) B, 1, H, W]
        out = image if keep is None else keep_blend(sources, image, keep)
        k = self.kinds
        fakes = out[: k * b]
        recs = out[-2 * b :] if self.paths == "both" else out[-b:]

        target_k = batch.target.repeat(k, 1)
        # A different draw from D's phase on the same batch (seed + 1).
        seen = self._seen_by_d(fakes, batch.augment_seed + 1)
        if self.D.twin is None:
            scores, logits = self.D(seen, target_k)  # [kB], [kB, N]
            attr = self.attr(logits, target_k)
        else:  # what the real head calls the target, less what the twin finds of it in G's own translations
            scores, (logits, twin_logits) = self.D.critic(seen, target_k), self.D.classify_with_twin(seen)
            attr = self.attr(logits, target_k) - self.attr(twin_logits, target_k)
        adv = self.gan.generator(scores)  # the mean over the step's translations
        guided = self.guide(fakes, target_k) if self.guide is not None else no_term
        rec = self.rec(recs, x.repeat(len(recs) // b, 1, 1, 1))
        with_cross = ref is not None and self.w.reference_cross_cycle > 0
        with_relative = ref is not None and self.w.reference_cycle_relative > 0
        with_fixed_reader = ref is not None and self.w.reference_cycle_fixed_reader > 0
        with_contrast = ref is not None and self.w.reference_style_contrast > 0
        with_from_label = self.paths == "both" and self.w.reference_from_label > 0
        needs_reencoding = self.paths == "both" or self.w.image_cycle or with_cross or with_relative
        # E(y, d): [kB, Cs, Hs, Ws], y's code as a source of the way back; as_reference(E(y, d)), as a reference
        reencoded = self.G.encoder(fakes, d.repeat(k, 1)) if needs_reencoding else None
        reread = self.G.as_reference(reencoded) if needs_reencoding else None
        if self.paths == "both":  # the two links between the paths
            cycle = self.cycle(reread, torch.cat([lab, ref, mix]))
            close = self.close(lab, ref)
        else:
            cycle = close = no_term
        # Each translation back to its source, the source as the reference: d_back = -d, so the code is
        # E(y, -d_back) + E(x, d_back) = E(y, d) + E(x, -d).
        back = self.rec(self.G(fakes, reencoded + self.G.as_reference(src).repeat(k, 1, 1, 1)), sources[: k * b]) \
            if self.w.image_cycle else no_term
        restore = self._reference_restoration(fakes, src, d, sources[: k * b]) \
            if self.w.reference_restoration else no_term
        fake2 = out[k * b : (k + 1) * b]  # the second noise's translation (label path)
        ms = no_term if self.paths == "reference" else self.ms(fakes[:b], fake2, batch.r1, batch.r2)
        with_ref_ms = ref is not None and self.w.reference_mode_seeking > 0
        ref_slot = slice(b, 2 * b) if self.paths == "both" else slice(0, b)  # the reference path's, in fakes
        ref_ms = self._reference_mode_seeking(batch, src, fakes[ref_slot]) if with_ref_ms else no_term
        cross = self._reference_cross_cycle(batch, src, ref_raw, reencoded[ref_slot]) if with_cross else no_term
        relative = self.relative_cycle(reread[ref_slot], ref) if with_relative else no_term
        fixed_reader = self._reference_cycle_fixed_reader(fakes[ref_slot], d, ref) if with_fixed_reader else no_term
        contrast = self._reference_style_contrast(batch, fakes[ref_slot], ref) if with_contrast else no_term
        from_label = self._reference_from_label(batch, fakes[:b], lab) if with_from_label else no_term
        change = self.change(fakes, sources[: k * b])
        # On the translations only: a reconstruction may keep every pixel.
        area, disagree = (no_term, no_term) if keep is None else self.keep(keep[: k * b], image[: k * b],
                                                                           sources[: k * b])
        w = self.w
        # G's own image behind a reconstruction's keep mask must be the face too, so that what it paints where
        # an edit opens the mask comes from a G that draws faces (ours; see LossWeights.raw_reconstruction).
        raw_rec = self.rec(image[-len(recs):], x.repeat(len(recs) // b, 1, 1, 1)) \
            if keep is not None and w.raw_reconstruction else no_term
        loss = (w.adversarial * adv + w.attribute_fake * attr + w.reconstruction * rec
                + latent_scale * (w.latent_cycle * cycle + w.closeness * close) + w.mode_seeking * ms
                + w.minimal_change * change + w.keep_area * area + w.keep_agreement * disagree
                + w.raw_reconstruction * raw_rec + w.image_cycle * back + w.reference_mode_seeking * ref_ms
                + w.reference_restoration * restore + w.reference_cross_cycle * cross
                + w.reference_cycle_relative * relative + w.reference_cycle_fixed_reader * fixed_reader
                + w.reference_style_contrast * contrast + w.reference_from_label * from_label
                + w.attribute_guide * guided)
        stats = {"g/adv": adv.detach(), "g/attr_fake": attr.detach(), "g/rec": rec.detach(),
                 "g/cycle": cycle.detach(), "g/close": close.detach(), "g/ms": ms.detach(),
                 "g/change": change.detach()}
        if self.guide is not None:
            stats["g/attr_guide"] = guided.detach()
        if w.image_cycle:
            stats["g/image_cycle"] = back.detach()
        if with_ref_ms:
            stats["g/ref_ms"] = ref_ms.detach()
        if w.reference_restoration:
            stats["g/restore"] = restore.detach()
        if with_cross:
            stats["g/cross_cycle"] = cross.detach()
        if with_relative:
            stats["g/ref_cycle_relative"] = relative.detach()
        if with_fixed_reader:
            stats["g/ref_cycle_fixed_reader"] = fixed_reader.detach()
        if with_contrast:
            stats["g/ref_style_contrast"] = contrast.detach()
        if with_from_label:
            stats["g/ref_from_label"] = from_label.detach()
        if keep is not None:
            stats |= {"g/keep_area": area.detach(), "g/keep_disagree": disagree.detach(), "g/raw_rec": raw_rec.detach()}
        return loss, stats
