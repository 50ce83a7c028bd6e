import copy

import pytest
import torch
from torch import nn

from bridgegan_batch.config import LossWeights, ModelConfig, RunConfig, TrainConfig
from bridgegan_batch.errors import ConfigError
from bridgegan_batch.model.bridge import BridgeGenerator, build_discriminator
from bridgegan_batch.train.losses import (
    AttributeLoss,
    Batch,
    BridgeGANLoss,
    ClosenessLoss,
    CriticDrift,
    GradientPenalty,
    KeepMaskLoss,
    LatentCycleLoss,
    MinimalChangeLoss,
    ModeSeekingLoss,
    ReconstructionLoss,
    RelativeLatentCycleLoss,
    RestorationLoss,
    StyleContrastLoss,
    WassersteinLoss,
    partners,
)
from tests.model.test_networks import TINY


def test_wasserstein():
    w = WassersteinLoss()
    assert w.critic(torch.tensor([2.0, 2.0]), torch.tensor([1.0, 0.0])).item() == pytest.approx(-1.5)
    assert w.generator(torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)


@pytest.mark.parametrize("norm, expected", [(1.0, 0.0), (2.0, 1.0), (0.5, 0.25)])
def test_gradient_penalty_of_a_linear_critic(norm, expected):
    weight = torch.randn(3 * 4 * 4)
    weight = weight / weight.norm() * norm
    critic = lambda x: x.flatten(1) @ weight  # noqa: E731 - gradient is `weight` everywhere
    gp = GradientPenalty()
    x_hat = gp.interpolate(torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4), torch.rand(5))
    assert gp(critic(x_hat), x_hat).item() == pytest.approx(expected, abs=1e-5)


def test_d_can_take_the_references_as_its_reals():
    _, _, batch, from_sources = _setup()
    batch = Batch(**{**batch.__dict__, "ref_labels": batch.target})
    _, stats = from_sources.discriminator_phase(batch)
    assert stats["d/real_score"].item() == pytest.approx(from_sources.D.critic(batch.x).mean().item(), abs=1e-5)
    from_references = BridgeGANLoss(from_sources.G, from_sources.D, LossWeights(), d_reals="references")
    _, stats = from_references.discriminator_phase(batch)
    real = from_references.D.critic(batch.x_ref)
    assert stats["d/real_score"].item() == pytest.approx(real.mean().item(), abs=1e-5)
    assert stats["d/attr_real"].item() == pytest.approx(
        AttributeLoss()(from_references.D.classify(batch.x_ref), batch.target).item(), abs=1e-5)
    with pytest.raises(ValueError, match="ref_labels"):
        from_references.discriminator_phase(Batch(**{**batch.__dict__, "ref_labels": None}))
    with pytest.raises(ValueError, match="d_reals"):
        BridgeGANLoss(from_sources.G, from_sources.D, LossWeights(), d_reals="targets")


def test_critic_drift_is_the_mean_square_score():
    assert CriticDrift()(torch.tensor([3.0, -1.0])).item() == pytest.approx(5.0)


def test_drift_weight_adds_its_term_to_the_discriminator_phase():
    _, _, batch, plain = _setup()
    torch.manual_seed(1)
    without, stats = plain.discriminator_phase(batch)
    _, _, _, drifting = _setup(LossWeights(critic_drift=0.5))
    torch.manual_seed(1)
    with_drift, _ = drifting.discriminator_phase(batch)
    real = drifting.D.critic(batch.x)
    assert stats["d/real_score"].item() == pytest.approx(real.mean().item(), abs=1e-5)
    assert (with_drift - without).item() == pytest.approx(0.5 * real.pow(2).mean().item(), rel=1e-4, abs=1e-6)


def test_projection_critic_learns_from_both_phases():
    torch.manual_seed(0)
    config = ModelConfig(**TINY, disc_projection=True)
    g, d = BridgeGenerator(config), build_discriminator(config)
    _, _, batch, _ = _setup()
    loss = BridgeGANLoss(g, d, LossWeights())
    value, _ = loss.discriminator_phase(batch)
    value.backward()
    assert d.embed.weight.grad.abs().sum() > 0  # reals scored with their labels, fakes with the target
    with torch.no_grad():
        d.embed.weight.normal_()
    d.zero_grad()
    value, _ = loss.generator_phase(batch)
    value.backward()
    assert _grads(g.generator)


def test_attribute_loss_ignores_masked_labels():
    logits, labels = torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 1.0]])
    full = AttributeLoss()(logits, labels)
    manual = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    assert full.item() == pytest.approx(manual.item())
    masked = AttributeLoss()(logits, labels, torch.tensor([[True, False]]))
    assert masked.item() == pytest.approx(torch.nn.functional.softplus(torch.tensor(-2.0)).item())


def test_l1_terms():
    a, b = torch.zeros(2, 3), torch.full((2, 3), 0.5)
    for term in (ReconstructionLoss(), LatentCycleLoss(), ClosenessLoss(), MinimalChangeLoss()):
        assert term(a, a).item() == 0 and term(a, b).item() == pytest.approx(0.5)


def test_minimal_change_weight_adds_the_translations_distance_from_their_sources():
    _, batch, local, (without, stats), (with_term, _) = _with_and_without(LossWeights(minimal_change=2.0))
    with torch.no_grad():
        fakes = local.fakes(batch)  # the same three translations the phase made
    distance = (fakes - batch.x.repeat(3, 1, 1, 1)).abs().mean().item()
    assert stats["g/change"].item() == pytest.approx(distance, rel=1e-4) and distance > 0
    assert (with_term - without).item() == pytest.approx(2.0 * distance, rel=1e-3)


def test_keep_mask_terms_are_the_redrawn_share_and_the_kept_disagreement():
    source, image = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5)
    keep = torch.tensor([[[[1.0, 1.0], [0.0, 0.5]]]])  # [1, 1, 2, 2]
    area, disagree = KeepMaskLoss()(keep, image, source)
    assert area.item() == pytest.approx(1.5 / 4)  # (0 + 0 + 1 + 0.5) / 4 pixels
    assert disagree.item() == pytest.approx(0.5 * 2.5 / 4)  # |G - x| = 0.5, weighed by m
    # Per pixel the two weighted terms are linear in m: with |G - x| under keep_area / keep_agreement,
    # keeping costs less; over it, redrawing does.
    def cost(m: float, distance: float) -> float:  # keep_area 0.2, keep_agreement 1: the threshold is 0.2
        area, disagree = KeepMaskLoss()(torch.full((1, 1, 1, 1), m), torch.full((1, 3, 1, 1), distance),
                                        torch.zeros(1, 3, 1, 1))
        return 0.2 * area.item() + 1.0 * disagree.item()

    assert cost(1.0, 0.1) < cost(0.5, 0.1) < cost(0.0, 0.1)
    assert cost(1.0, 0.4) > cost(0.5, 0.4) > cost(0.0, 0.4)


def test_keep_mask_weights_add_their_terms_to_g_and_need_a_keep_mask():
    weights = LossWeights(keep_area=0.5, keep_agreement=2.0)
    g, batch, weighted, (without, stats), (with_terms, _) = _with_and_without(weights, {"generator_keep_mask": True})
    with torch.no_grad():  # the three translations the phase made, drawn apart
        image, keep = g.draw(batch.x.repeat(3, 1, 1, 1), weighted.fake_codes(batch))
    area = (1 - keep).mean().item()
    disagree = (keep * (image - batch.x.repeat(3, 1, 1, 1)).abs()).mean().item()
    assert stats["g/keep_area"].item() == pytest.approx(area, rel=1e-4)
    assert stats["g/keep_disagree"].item() == pytest.approx(disagree, rel=1e-4) and disagree > 0
    assert (with_terms - without).item() == pytest.approx(0.5 * area + 2.0 * disagree, rel=1e-3)
    with pytest.raises(ValueError, match="generator_keep_mask"):
        RunConfig.model_validate({"model": TINY, "train": {"losses": {"keep_area": 0.1}}})


def test_pooled_reference_path_reconstructs_with_the_source_as_its_own_pooled_reference():
    g, batch, _, _, (loss, stats) = _with_and_without(LossWeights(), {"reference_code_pooled": True})
    with torch.no_grad():  # the two self-reconstructions (d = 0): label path, then the source as its own reference
        zero = torch.zeros_like(batch.d)
        src0 = g.source_code(batch.x, zero)
        codes = torch.cat([src0 + g.label_code(batch.r1, zero), src0 + g.as_reference(src0)])
        recs = g(batch.x.repeat(2, 1, 1, 1), codes)
        spatial = g(batch.x, src0 + src0)
    expected = (recs - batch.x.repeat(2, 1, 1, 1)).abs().mean().item()
    assert stats["g/rec"].item() == pytest.approx(expected, rel=1e-4)
    assert (spatial - recs[len(batch.x):]).abs().max() > 1e-4  # pooling changed what is reconstructed


def test_raw_reconstruction_asks_gs_own_image_behind_the_mask_to_be_the_face():
    g, batch, _, (without, _), (with_term, stats) = _with_and_without(LossWeights(raw_reconstruction=3.0),
                                                                        {"generator_keep_mask": True})
    with torch.no_grad():  # the two self-reconstructions (d = 0), label path then reference path, drawn apart
        zero = torch.zeros_like(batch.d)
        src0 = g.source_code(batch.x, zero)
        image, _ = g.draw(batch.x.repeat(2, 1, 1, 1), torch.cat([src0 + g.label_code(batch.r1, zero), src0 + src0]))
    raw = (image - batch.x.repeat(2, 1, 1, 1)).abs().mean().item()
    assert raw > 0 and stats["g/raw_rec"].item() == pytest.approx(raw, rel=1e-4)
    assert (with_term - without).item() == pytest.approx(3.0 * raw, rel=1e-3)
    with pytest.raises(ValueError, match="generator_keep_mask"):
        RunConfig.model_validate({"model": TINY, "train": {"losses": {"raw_reconstruction": 1.0}}})


@pytest.mark.parametrize("model", [None, {"reference_code_pooled": True}], ids=["spatial", "pooled"])
def test_image_cycle_translates_each_translation_back_with_the_source_as_its_reference(model):
    g, batch, weighted, (without, plain_stats), (with_term, stats) = _with_and_without(LossWeights(image_cycle=2.0),
                                                                                       model)
    assert "g/image_cycle" not in plain_stats
    fakes, x3, back = _translated_back(g, batch, weighted)
    expected = (back - x3).abs().mean().item()
    assert expected > 0 and stats["g/image_cycle"].item() == pytest.approx(expected, rel=1e-4)
    assert (with_term - without).item() == pytest.approx(2.0 * expected, rel=1e-3)
    # Alone, it trains E (the codes of both passes), M (the label path's translation) and G.
    assert _trained_alone(batch, image_cycle=1.0) == (True, True, True)


def test_restoration_counts_only_where_the_translation_changed_the_source():
    source = torch.zeros(2, 3, 4, 4)
    translation = source.clone()
    translation[0, :, :2, :2] = 1.0  # the first image changed on 4 pixels, the second not at all
    restored = torch.full_like(source, 0.5)  # off by 0.5 everywhere
    restored[0, :, 0, 0] = 0.0  # right on one of the 4 changed pixels
    loss = RestorationLoss()
    assert loss(restored, source, translation).item() == pytest.approx(0.5 * 3 / 4)
    assert loss(restored, source, source).item() == 0  # nothing changed: nothing to restore
    restored.requires_grad_(True)
    loss(restored, source, translation).backward()
    assert restored.grad[1].abs().sum() == 0 and restored.grad[0, :, 3, 3].abs().sum() == 0  # unchanged pixels


@pytest.mark.parametrize("model", [None, {"reference_code_pooled": True}], ids=["spatial", "pooled"])
def test_reference_restoration_translates_each_translation_back_held_fixed(model):
    # Pooled, the source x is the way back's reference, so its code is pooled and y's (the way back's source) not.
    g, batch, weighted, (without, plain_stats), (with_term, stats) = _with_and_without(
        LossWeights(reference_restoration=2.0), model)
    assert "g/restore" not in plain_stats
    fakes, x3, back = _translated_back(g, batch, weighted)
    expected = RestorationLoss()(back, x3, fakes).item()
    assert expected > 0 and stats["g/restore"].item() == pytest.approx(expected, rel=1e-4)
    assert (with_term - without).item() == pytest.approx(2.0 * expected, rel=1e-3)
    # Alone, it trains E and G on the way back, and nothing of the translations it starts from: M, which only
    # the label path's translation uses, gets no gradient (the image cycle's does).
    assert _trained_alone(batch, reference_restoration=1.0) == (True, False, True)


def test_reference_cross_cycle_gives_the_reference_back_its_attribute_through_the_output():
    g, batch, weighted, (without, plain_stats), (with_term, stats) = _with_and_without(
        LossWeights(reference_cross_cycle=2.0))
    assert "g/cross_cycle" not in plain_stats
    output = _reference_output(weighted, batch)
    with torch.no_grad():
        d = batch.d
        bare = g(batch.x_ref, g.source_code(batch.x_ref, -d) + g.reference_code(batch.x, -d))  # x_ref, -d
        restored = g(bare, g.source_code(bare, d) + g.reference_code(output, d))  # back, y as the reference
    expected = RestorationLoss()(restored, batch.x_ref, bare).item()
    assert expected > 0 and stats["g/cross_cycle"].item() == pytest.approx(expected, rel=1e-4)
    assert (with_term - without).item() == pytest.approx(2.0 * expected, rel=1e-3)
    # Alone, its gradient reaches the reference path's output (through E(y, d)): E and G train, M does not.
    alone = _alone(reference_cross_cycle=1.0)
    g, _, _, only = _setup(alone)
    loss, _ = only.generator_phase(batch)
    output = only.fakes(batch).chunk(3)[1].detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(
        only._reference_cross_cycle(batch, g.source_code(batch.x, batch.d), g.reference_code(batch.x_ref, batch.d),
                                    g.reference_code(output, batch.d)), output)
    assert grad.abs().sum() > 0
    loss.backward()
    assert _grads(g.encoder) and _grads(g.generator) and not _grads(g.mapping)
    # The reference path alone (the ablation's REM) has it too; the label path alone has no reference to give back.
    _assert_only_with_a_reference_path(g, batch, alone, "g/cross_cycle")


def test_partners_start_where_the_row_started_on_what_it_changes():
    labels = torch.tensor([[0.0, 1], [1, 1], [0, 0], [0, 1]])
    d = torch.tensor([[1.0, 0], [-1, 0], [0, 0], [0, -1]])
    partner, rows = partners(labels, d)
    # Row 0 adds attribute 0: rows 2 and 3 lack it too, and row 2 is the nearest after it. Row 1 removes it: no
    # other row has it. Row 2 changes nothing. Row 3 removes attribute 1: row 0 has it (cyclically the next).
    assert rows.tolist() == [True, False, False, True]
    assert partner[0].item() == 2 and partner[3].item() == 0
    # Never itself, even where every row fits.
    partner, rows = partners(torch.zeros(3, 2), torch.tensor([[1.0, 0]] * 3))
    assert rows.all() and partner.tolist() == [1, 2, 0]


def test_reference_from_label_reads_one_sources_label_drawing_for_another():
    g, batch, weighted, (without, plain_stats), (with_term, stats) = _with_and_without(
        LossWeights(reference_from_label=2.0))
    assert "g/ref_from_label" not in plain_stats
    partner, rows = partners(batch.labels, batch.d)
    assert rows.tolist() == [False, False, True] and partner[2].item() == 0  # the fixture's one fitting row
    with torch.no_grad():
        torch.manual_seed(1)
        drawn = weighted.fakes(batch).chunk(3)[0][rows]  # the label path's drawing on row 2's source
        d, x = batch.d[rows], batch.x[partner[rows]]
        source, lab = g.source_code(x, d), g.label_code(batch.r1[rows], d)
        answer = g(x, source + lab)  # the same noise drawn on row 0's source
        read = g(x, source + g.reference_code(drawn, d))  # the drawing as row 0's reference
    expected = RestorationLoss()(read, answer, x).item()
    assert expected > 0 and stats["g/ref_from_label"].item() == pytest.approx(expected, rel=1e-4)
    assert (with_term - without).item() == pytest.approx(2.0 * expected, rel=1e-3)
    # Alone, it trains E (both codes) and G; both drawings are held fixed, so M gets nothing.
    assert _trained_alone(batch, reference_from_label=1.0) == (True, False, True)
    # It needs both paths: each path alone has nothing to bridge.
    weights = _alone(reference_from_label=1.0)
    for paths in ("label", "reference"):
        one_path = BridgeGANLoss(g, build_discriminator(ModelConfig(**TINY)), weights, paths=paths)
        assert "g/ref_from_label" not in one_path.generator_phase(batch)[1]
    # A batch where no row has a partner adds nothing.
    lonely = Batch(**{**batch.__dict__, "labels": torch.eye(3), "target": torch.eye(3).roll(1, 0)})
    assert weighted._reference_from_label(lonely, torch.zeros(3, 3, 32, 32), torch.zeros(3, 4, 8, 8)).item() == 0


def test_twin_head_learns_the_translations_and_g_is_paid_the_difference():
    twin_model = {"disc_twin_attribute_head": True}
    g, d, batch, loss = _setup(LossWeights(attribute_real=2.0), model=twin_model)
    with torch.no_grad():
        torch.manual_seed(1)
        fakes = loss.fakes(batch)  # [3B, 3, H, W]
    torch.manual_seed(1)
    value, stats = loss.discriminator_phase(batch)
    target3 = batch.target.repeat(3, 1)
    expected = AttributeLoss()(d.classify_with_twin(fakes)[1], target3).item()
    assert stats["d/attr_twin"].item() == pytest.approx(expected, rel=1e-4)
    _, _, _, plain = _setup(LossWeights(attribute_real=2.0))  # the same networks but the twin head
    torch.manual_seed(1)
    assert value.item() == pytest.approx(plain.discriminator_phase(batch)[0].item() + 2.0 * expected, rel=1e-4)
    value.backward()
    assert d.twin.weight.grad.abs().sum() > 0 and not _grads(g)
    # G: the real head's cross-entropy toward the target less the twin's, on the same translations.
    _, _, _, loss = _setup(model=twin_model)
    torch.manual_seed(1)
    _, g_stats = loss.generator_phase(batch)
    with torch.no_grad():
        torch.manual_seed(1)
        fakes = loss.fakes(batch)
        logits, twin = loss.D.classify_with_twin(fakes)
    expected = (AttributeLoss()(logits, target3) - AttributeLoss()(twin, target3)).item()
    assert g_stats["g/attr_fake"].item() == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_relative_latent_cycle_is_in_units_of_the_codes_spread_and_ignores_their_scale():
    code = torch.tensor([0.0, 1.0, 3.0]).view(3, 1, 1, 1)  # spread: mean |code - rolled| = (3 + 1 + 2) / 3 = 2
    reencoded = code + torch.tensor([1.0, 0.0, -1.0]).view(3, 1, 1, 1)  # mean error 2 / 3
    loss = RelativeLatentCycleLoss()
    assert loss(reencoded, code).item() == pytest.approx((2 / 3) / 2)
    assert loss(100 * reencoded, 100 * code).item() == pytest.approx((2 / 3) / 2)  # E shrinking codes gains nothing
    assert loss(code.roll(1, 0), code).item() == pytest.approx(1.0)  # another sample's code: 1
    code.requires_grad_(True)
    loss(reencoded.detach(), code).backward()  # the spread is held fixed: only the error's gradient reaches code
    assert code.grad.flatten().tolist() == pytest.approx([-1 / 6, 0, 1 / 6])  # -sign(error) / 3 elements / spread 2
    with pytest.raises(ValueError, match="at least 2"):
        loss(code[:1], code[:1])


def test_reference_cycle_relative_reencodes_the_reference_paths_output():
    g, batch, weighted, (without, plain_stats), (with_term, stats) = _with_and_without(
        LossWeights(reference_cycle_relative=2.0))
    assert "g/ref_cycle_relative" not in plain_stats
    output = _reference_output(weighted, batch)
    with torch.no_grad():
        ref = g.reference_code(batch.x_ref, batch.d)
        expected = RelativeLatentCycleLoss()(g.reference_code(output, batch.d), ref).item()
    assert expected > 0 and stats["g/ref_cycle_relative"].item() == pytest.approx(expected, rel=1e-4)
    assert (with_term - without).item() == pytest.approx(2.0 * expected, rel=1e-3)
    # Alone, it trains E (both codes) and G (through y); M, which the reference path does not use, gets nothing.
    assert _trained_alone(batch, reference_cycle_relative=1.0) == (True, False, True)
    _assert_only_with_a_reference_path(g, batch, _alone(reference_cycle_relative=1.0), "g/ref_cycle_relative")


def test_reference_cycle_fixed_reader_pays_only_the_output_pixels():
    g, batch, weighted, (without, plain_stats), (with_term, stats) = _with_and_without(
        LossWeights(reference_cycle_fixed_reader=2.0))
    assert "g/ref_cycle_fixed_reader" not in plain_stats
    output = _reference_output(weighted, batch)
    with torch.no_grad():
        expected = RelativeLatentCycleLoss()(g.reference_code(output, batch.d),
                                             g.reference_code(batch.x_ref, batch.d)).item()
    assert expected > 0 and stats["g/ref_cycle_fixed_reader"].item() == pytest.approx(expected, rel=1e-4)
    assert (with_term - without).item() == pytest.approx(2.0 * expected, rel=1e-3)
    # Alone, E's gradient is what it gets through y's code alone: the same loss with a frozen copy of E reading y,
    # and the target detached. The relative cycle, E free on both sides, gives E a different gradient.
    g, term_grads, y = _alone_against_a_frozen_reader(
        _alone(reference_cycle_fixed_reader=1.0), batch,
        lambda read, g: RelativeLatentCycleLoss()(read, g.reference_code(batch.x_ref, batch.d).detach()))

    def same_as_term() -> bool:  # float32 sums in another order differ by ~2e-7 on some CPUs; the other loss by ~0.2
        pairs = zip(term_grads, g.encoder.parameters(), strict=True)
        return all(torch.allclose(a, p.grad, atol=1e-6) for a, p in pairs)

    assert same_as_term()
    g.zero_grad()
    RelativeLatentCycleLoss()(g.reference_code(y, batch.d), g.reference_code(batch.x_ref, batch.d)).backward()
    assert not same_as_term()
    _assert_only_with_a_reference_path(g, batch, _alone(reference_cycle_fixed_reader=1.0), "g/ref_cycle_fixed_reader")


def test_style_contrast_places_a_code_between_two_references():
    positive, negative = torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4)
    shared = torch.randn(1, 2, 4, 4)  # what both references' codes carry drops out
    apart = torch.tensor([True, True, True])
    loss = StyleContrastLoss()
    assert loss(positive, positive, negative, apart).item() == pytest.approx(0, abs=1e-6)
    assert loss(negative, positive, negative, apart).item() == pytest.approx(2)
    assert loss((positive + negative) / 2, positive, negative, apart).item() == pytest.approx(1)
    beyond = positive + 0.5 * (positive - negative)
    assert loss(beyond, positive, negative, apart).item() == 0  # as far as its own reference's code: paid nothing
    quarter = 0.75 * negative + 0.25 * positive  # position -0.5
    assert loss(quarter + shared, positive + shared, negative + shared, apart).item() == pytest.approx(1.5)
    # Pairs whose two references are one face are left out of the mean; none at all gives 0, not NaN.
    mixed = torch.stack([positive[0], negative[1], negative[2]])
    assert loss(mixed, positive, negative, torch.tensor([True, False, False])).item() == pytest.approx(0, abs=1e-6)
    assert loss(mixed, positive, positive, torch.tensor([False, False, False])).item() == 0


def test_reference_style_contrast_reads_the_output_against_two_references():
    g, batch, weighted, (without, plain_stats), (with_term, stats) = _with_and_without(
        LossWeights(reference_style_contrast=3.0), second_reference=_another_reference)
    assert "g/ref_style_contrast" not in plain_stats
    every_row = torch.ones(3, dtype=torch.bool)
    expected = _expected_contrast(g, batch, _reference_output(weighted, batch), every_row)
    assert expected > 0 and stats["g/ref_style_contrast"].item() == pytest.approx(expected, rel=1e-4)
    assert (with_term - without).item() == pytest.approx(3.0 * expected, rel=1e-3)
    # Alone, it trains G through y's pixels; M, which the reference path does not use, gets nothing. E's weights
    # get only what reaches them through the code y was drawn from: a frozen copy of E reading y gives the same.
    g, term_grads, _ = _alone_against_a_frozen_reader(
        _alone(reference_style_contrast=1.0), batch,
        lambda read, g: StyleContrastLoss()(read, *_reference_codes(g, batch), every_row))
    scale = max(a.abs().max() for a in term_grads)
    assert scale > 0
    for a, p in zip(term_grads, g.encoder.parameters(), strict=True):
        torch.testing.assert_close(a, p.grad if p.grad is not None else torch.zeros_like(a), atol=1e-4 * scale,
                                   rtol=1e-4)
    _assert_only_with_a_reference_path(g, batch, _alone(reference_style_contrast=1.0), "g/ref_style_contrast")
    # A row with nothing to change (d = 0) is left out: its second reference is any face, not another style.
    batch.target[0] = batch.labels[0]
    torch.manual_seed(1)
    _, stats = weighted.generator_phase(batch)
    changing = torch.tensor([False, True, True])
    expected = _expected_contrast(weighted.G, batch, _reference_output(weighted, batch), changing)
    assert stats["g/ref_style_contrast"].item() == pytest.approx(expected, rel=1e-4)
    # Asked for without a second reference, the phase says so instead of training without the term.
    batch.x_ref2 = None
    with pytest.raises(ValueError, match="reference_style_contrast.*x_ref2"):
        weighted.generator_phase(batch)
    assert LossWeights(reference_style_contrast=0.1).needs_second_reference
    assert not LossWeights().needs_second_reference


def _reference_codes(g, batch):
    """E(x_ref, d) and E(x_ref2, d), without gradients: [B, Cs, Hs, Ws] each"""
    with torch.no_grad():
        return g.reference_code(batch.x_ref, batch.d), g.reference_code(batch.x_ref2, batch.d)


def _expected_contrast(g, batch, output, rows) -> float:
    """StyleContrastLoss of `output` read by E between the two references' codes, over `rows`."""
    with torch.no_grad():
        return StyleContrastLoss()(g.reference_code(output, batch.d), *_reference_codes(g, batch), rows).item()


def test_mode_seeking_rewards_different_outputs():
    r1, r2 = torch.zeros(2, 4), torch.ones(2, 4)
    same = ModeSeekingLoss()(torch.zeros(2, 3), torch.zeros(2, 3), r1, r2)
    apart = ModeSeekingLoss()(torch.zeros(2, 3), torch.ones(2, 3), r1, r2)
    assert apart < same and apart.item() == pytest.approx(1.0, rel=1e-3)
    assert ModeSeekingLoss()(torch.zeros(2, 3), torch.ones(2, 3), r1, r1).item() == 0  # equal inputs: nothing to seek


def test_reference_mode_seeking_translates_the_source_with_a_second_reference():
    g, batch, weighted, (without, plain_stats), (with_term, stats) = _with_and_without(
        LossWeights(reference_mode_seeking=0.5), second_reference=_another_reference)
    assert "g/ref_ms" not in plain_stats
    first = _reference_output(weighted, batch)
    with torch.no_grad():
        second = g(batch.x, g.source_code(batch.x, batch.d) + g.reference_code(batch.x_ref2, batch.d))
    ratio = (first - second).abs().mean() / (batch.x_ref - batch.x_ref2).abs().mean()
    expected = 1 / ratio.item()
    assert stats["g/ref_ms"].item() == pytest.approx(expected, rel=1e-3)
    assert (with_term - without).item() == pytest.approx(0.5 * expected, rel=1e-3)
    # A second reference that is the first leaves nothing to seek, and no NaN in the gradients.
    batch.x_ref2 = batch.x_ref.clone()
    loss, stats = weighted.generator_phase(batch)
    assert stats["g/ref_ms"].item() == 0
    loss.backward()
    grads = [p.grad for p in g.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(grad).all() for grad in grads)
    # Asked for without a second reference, the phase says so instead of training without the term.
    batch.x_ref2 = None
    with pytest.raises(ValueError, match="x_ref2"):
        weighted.generator_phase(batch)


def _another_reference(batch):
    """A second reference per row: the next row's reference. [B, 3, H, W]"""
    return batch.x_ref.roll(1, 0)


def _alone_against_a_frozen_reader(weights, batch, loss_of_read):
    """G's phase under `weights` (one reference-path term alone) on `batch`, backward; then, with E's gradients
    cleared, `loss_of_read(E'(y, d), g)` backward for the reference path's output y read by E', a frozen copy of E.
    -> (g, E's gradients from the term, y with its graph kept); g.encoder's .grad holds the frozen reading's."""
    g, _, _, only = _setup(weights)
    torch.manual_seed(1)
    only.generator_phase(batch)[0].backward()
    term_grads = [p.grad.clone() for p in g.encoder.parameters()]
    assert _grads(g.generator) and not _grads(g.mapping)
    reader = copy.deepcopy(g.encoder).requires_grad_(False)
    g.zero_grad()
    y = only.fakes(batch).chunk(3)[1]
    loss_of_read(reader(y, batch.d), g).backward(retain_graph=True)
    return g, term_grads, y


def _assert_only_with_a_reference_path(g, batch, weights, stat):
    """A reference-path term: the reference path alone (the ablation's REM) has it, the label path alone does not."""
    for paths, has_term in (("reference", True), ("label", False)):
        loss = BridgeGANLoss(g, build_discriminator(ModelConfig(**TINY)), weights, paths=paths)
        assert (stat in loss.generator_phase(batch)[1]) == has_term


def _reference_output(weighted, batch):
    """The reference path's translations y of the step (the phase's noise seed): [B, 3, H, W]"""
    with torch.no_grad():
        torch.manual_seed(1)
        return weighted.fakes(batch).chunk(3)[1]


def _translated_back(g, batch, weighted):
    """The step's three translations (rand, ref, interp; the phase's noise seed) and each translated back with
    its source as the reference: d_back = -d, so the code is E(y, -d_back) + E(x, d_back) = E(y, d) + E(x, -d)."""
    with torch.no_grad():
        torch.manual_seed(1)
        fakes = weighted.fakes(batch)  # [3B, 3, H, W]
        d3, x3 = batch.d.repeat(3, 1), batch.x.repeat(3, 1, 1, 1)
        back = g(fakes, g.source_code(fakes, -d3) + g.reference_code(x3, -d3))  # [3B, 3, H, W]
    return fakes, x3, back


def _with_and_without(weights, model=None, second_reference=None):
    """G's phase on one batch under the default weights and under `weights`, with the same draws. The two losses'
    networks start alike (both built from seed 0). -> (weighted G, batch, weighted loss, (loss, stats) default,
    (loss, stats) weighted)"""
    _, _, batch, plain = _setup(model=model)
    if second_reference is not None:
        batch.x_ref2 = second_reference(batch)
    g, _, _, weighted = _setup(weights, model=model)
    torch.manual_seed(1)
    without = plain.generator_phase(batch)
    torch.manual_seed(1)
    return g, batch, weighted, without, weighted.generator_phase(batch)


def _trained_alone(batch, **term) -> tuple[bool, bool, bool]:
    """Which of E, M and G one term, alone at weight 1, gives a gradient: (encoder, mapping, generator)."""
    g, _, _, only = _setup(_alone(**term))
    loss, _ = only.generator_phase(batch)
    loss.backward()
    return _grads(g.encoder), _grads(g.mapping), _grads(g.generator)


def _alone(**term) -> LossWeights:
    """G's default terms off and `term` on: what one term trains by itself."""
    return LossWeights(**{"adversarial": 0, "attribute_fake": 0, "reconstruction": 0, "latent_cycle": 0,
                          "closeness": 0, "mode_seeking": 0, **term})


def _setup(weights=None, model=None):
    torch.manual_seed(0)
    config = ModelConfig(**TINY, **(model or {}))
    g, d = BridgeGenerator(config), build_discriminator(config)
    b = 3
    labels = torch.tensor([[1.0, 0, 1], [0, 1, 0], [1, 1, 0]])
    batch = Batch(x=torch.rand(b, 3, 32, 32) * 2 - 1, labels=labels, target=labels.roll(1, 0),
                  x_ref=torch.rand(b, 3, 32, 32) * 2 - 1, r1=torch.randn(b, 16), r2=torch.randn(b, 16),
                  alpha=torch.rand(b), eps=torch.rand(3 * b))
    return g, d, batch, BridgeGANLoss(g, d, weights or LossWeights())


def _grads(module: nn.Module) -> bool:
    return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def test_interpolated_fake_lies_between_the_paths():
    g, _, batch, loss = _setup()
    g.eval()
    with torch.no_grad():
        rand, ref, _ = loss.fakes(Batch(**{**batch.__dict__, "alpha": torch.ones(3)})).chunk(3)
        _, _, at_one = loss.fakes(Batch(**{**batch.__dict__, "alpha": torch.ones(3)})).chunk(3)
        _, _, at_zero = loss.fakes(Batch(**{**batch.__dict__, "alpha": torch.zeros(3)})).chunk(3)
    assert torch.allclose(at_one, rand, atol=1e-5) and torch.allclose(at_zero, ref, atol=1e-5)
    assert not torch.allclose(rand, ref)


def test_discriminator_phase_trains_only_d():
    g, d, batch, loss = _setup()
    value, stats = loss.discriminator_phase(batch)
    value.backward()
    assert torch.isfinite(value) and {"d/adv", "d/gp", "d/attr_real"} <= set(stats)
    assert _grads(d) and not _grads(g)


def test_nonsaturating_r1_phase_penalises_reals_and_trains_only_d():
    g, d, batch, _ = _setup()
    loss = BridgeGANLoss(g, d, LossWeights(r1=0.0), adversarial="nonsaturating_r1")
    value, stats = loss.discriminator_phase(batch)
    value.backward()
    assert {"d/adv", "d/r1", "d/attr_real"} <= set(stats) and "d/gp" not in stats
    assert _grads(d) and not _grads(g)
    # R1 = 0.5 * ||grad D(real)||^2, by a second, plain autograd call; weighted by losses.r1.
    real = batch.x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(d.critic(real, batch.labels).sum(), real)
    assert stats["d/r1"].item() == pytest.approx(0.5 * grad.pow(2).flatten(1).sum(1).mean().item(), rel=1e-4)
    weighted = BridgeGANLoss(g, d, LossWeights(r1=2.0), adversarial="nonsaturating_r1")
    assert weighted.discriminator_phase(batch)[0].item() == pytest.approx(value.item() + 2 * stats["d/r1"].item(),
                                                                          rel=1e-4)
    g_value, g_stats = loss.generator_phase(batch)
    assert g_stats["g/adv"].item() > 0  # softplus(-score): positive, unlike the WGAN's -score
    with pytest.raises(ValueError, match="adversarial"):
        BridgeGANLoss(g, d, LossWeights(), adversarial="hinge")


@pytest.mark.parametrize("paths", ["both", "label", "reference"])
def test_reconstruction_phase_is_the_weighted_self_reconstruction_and_needs_no_d(paths):
    g, d, batch, _ = _setup()
    loss = BridgeGANLoss(g, d, LossWeights(reconstruction=3.0), paths=paths)
    value, stats = loss.reconstruction_phase(batch)
    value.backward()
    assert value.item() == pytest.approx(3 * stats["g/rec"].item(), rel=1e-6)
    zero = torch.zeros_like(batch.d)
    src0 = g.source_code(batch.x, zero)
    codes = {"both": [src0 + g.label_code(batch.r1, zero), src0 + src0], "label": [src0 + g.label_code(batch.r1, zero)],
             "reference": [src0 + src0]}[paths]
    expected = torch.stack([(g(batch.x, c) - batch.x).abs().mean() for c in codes]).mean()
    assert stats["g/rec"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert _grads(g.encoder) and _grads(g.generator) and not _grads(d)
    assert _grads(g.mapping) == (paths != "reference")


def test_the_training_config_picks_the_loss():
    g, d, _, _ = _setup()
    t = TrainConfig(adversarial="nonsaturating_r1", paths="label", diff_augment=("cutout",))
    loss = BridgeGANLoss.for_training(g, d, t)
    assert loss.adversarial == "nonsaturating_r1" and loss.paths == "label" and loss.augment == ("cutout",)


def test_generator_phase_trains_e_m_g_and_weights_are_configurable():
    g, d, batch, loss = _setup()
    value, stats = loss.generator_phase(batch)
    value.backward()
    assert {"g/adv", "g/attr_fake", "g/rec", "g/cycle", "g/close", "g/ms"} <= set(stats)
    assert _grads(g.encoder) and _grads(g.mapping) and _grads(g.generator)
    only_rec = _alone(reconstruction=1.0)
    _, _, _, rec_loss = _setup(only_rec)
    value, stats = rec_loss.generator_phase(batch)
    assert value.item() == pytest.approx(stats["g/rec"].item(), rel=1e-5)


@pytest.mark.parametrize("paths", ["label", "reference"])
def test_one_path_ablation_trains_only_that_path_without_links(paths):
    g, d, batch, _ = _setup()
    loss = BridgeGANLoss(g, d, LossWeights(), paths=paths)
    assert loss.fakes(batch).shape == (3, 3, 32, 32)  # one translation per source
    d_value, _ = loss.discriminator_phase(batch)
    assert torch.isfinite(d_value)
    value, stats = loss.generator_phase(batch)
    value.backward()
    assert stats["g/close"].item() == 0 and stats["g/cycle"].item() == 0
    assert _grads(g.encoder) and _grads(g.generator)
    assert _grads(g.mapping) == (paths == "label")  # REM alone never uses the mapping branch
    assert (stats["g/ms"].item() > 0) == (paths == "label")


def test_unknown_paths_are_refused():
    g, d, _, _ = _setup()
    with pytest.raises(ValueError, match="paths"):
        BridgeGANLoss(g, d, LossWeights(), paths="neither")


def test_diff_augment_changes_what_d_sees_deterministically_and_g_still_gets_gradients():
    g, d, batch, plain = _setup()
    augmented = BridgeGANLoss(g, d, LossWeights(), augment=("translation", "cutout"))
    torch.manual_seed(1)
    d_plain, _ = plain.discriminator_phase(batch)
    torch.manual_seed(1)
    d_aug, _ = augmented.discriminator_phase(batch)
    torch.manual_seed(1)
    d_again, _ = augmented.discriminator_phase(batch)
    assert d_aug.item() != pytest.approx(d_plain.item(), rel=1e-4)
    assert d_aug.item() == pytest.approx(d_again.item(), rel=1e-6)  # the batch's seed decides the draw
    value, _ = augmented.generator_phase(batch)
    value.backward()
    assert _grads(g.encoder) and _grads(g.mapping) and _grads(g.generator)
    with pytest.raises(ValueError, match="unknown augmentation"):
        BridgeGANLoss(g, d, LossWeights(), augment=("flip",))


def test_attribute_fake_in_d_reads_the_changed_attributes_of_translations_as_the_sources():
    _, _, batch, plain = _setup()
    torch.manual_seed(1)
    without, stats = plain.discriminator_phase(batch)
    assert "d/attr_fake" not in stats
    _, _, _, negative = _setup(LossWeights(attribute_fake_in_d=2.0))
    torch.manual_seed(1)
    with_term, stats = negative.discriminator_phase(batch)
    with torch.no_grad():
        torch.manual_seed(1)
        fakes = negative.fakes(batch)
        logits = negative.D.classify(fakes)  # [3B, N]
    changed = (batch.d != 0).repeat(3, 1)
    assert changed.any() and not changed.all()  # the mask matters: some entries changed, some did not
    expected = AttributeLoss()(logits, batch.labels.repeat(3, 1), changed)
    assert stats["d/attr_fake"].item() == pytest.approx(expected.item(), rel=1e-4)
    assert (with_term - without).item() == pytest.approx(2.0 * expected.item(), rel=1e-3, abs=1e-5)
    # It trains D's attribute head only: G gets no gradient from D's phase.
    with_term.backward()
    assert all(p.grad is None for p in negative.G.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in negative.D.parameters())


def _guide(tmp_path, attributes=("C", "X", "A", "B")):
    """A small judge file knowing `attributes` (untrained: the term's plumbing is what is tested)."""
    from bridgegan_batch.config import JudgeConfig
    from bridgegan_batch.eval.judge import Judge, JudgeNet

    torch.manual_seed(3)
    config = JudgeConfig(attributes=attributes, image_size=32, channels=(4, 8))
    return Judge(JudgeNet(len(attributes), config.channels), config).save(tmp_path / "guide.safetensors")


def test_the_guide_reads_the_model_attributes_in_order_and_only_images_learn(tmp_path):
    from bridgegan_batch.train.losses import GuideLoss

    path = _guide(tmp_path)
    guide = GuideLoss.load(path, ("A", "B", "C"), torch.device("cpu"))
    assert guide.columns == [2, 3, 0]
    images, target = torch.rand(2, 3, 32, 32, requires_grad=True), torch.tensor([[1.0, 0, 1], [0, 1, 0]])
    value = guide(images, target)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(guide.net(images)[:, [2, 3, 0]], target)
    assert value.item() == pytest.approx(expected.item())
    value.backward()
    assert images.grad.abs().sum() > 0 and not any(p.requires_grad for p in guide.net.parameters())
    with pytest.raises(ConfigError, match=r"\['D'\]"):
        GuideLoss.load(path, ("A", "D"), torch.device("cpu"))


def test_the_guide_term_adds_its_weighted_bce_on_the_translations(tmp_path):
    from bridgegan_batch.train.losses import GuideLoss

    g, d, batch, plain = _setup()
    guide = GuideLoss.load(_guide(tmp_path), ("A", "B", "C"), torch.device("cpu"))
    guided = BridgeGANLoss(g, d, LossWeights(attribute_guide=2.0), guide=guide)
    torch.manual_seed(5)
    without, stats = plain.generator_phase(batch)
    torch.manual_seed(5)
    with_guide, guided_stats = guided.generator_phase(batch)
    assert "g/attr_guide" not in stats
    with torch.no_grad():
        fakes = guided.fakes(batch)  # rand, ref, interp
    expected = guide(fakes, batch.target.repeat(3, 1))
    assert guided_stats["g/attr_guide"].item() == pytest.approx(expected.item(), rel=1e-4)
    assert (with_guide - without).item() == pytest.approx(2 * expected.item(), rel=1e-3, abs=1e-5)
    with pytest.raises(ValueError, match="attribute_guide"):
        BridgeGANLoss(g, d, LossWeights(), guide=guide)
    with pytest.raises(ValueError, match="attribute_guide"):
        BridgeGANLoss(g, d, LossWeights(attribute_guide=1.0))


def test_a_guide_file_and_its_weight_go_together():
    with pytest.raises(ValueError, match="go together"):
        TrainConfig(guide="guide.safetensors")
    with pytest.raises(ValueError, match="go together"):
        TrainConfig(losses=LossWeights(attribute_guide=1.0))
    assert TrainConfig(guide="g.safetensors", losses=LossWeights(attribute_guide=1.0)).guide == "g.safetensors"
