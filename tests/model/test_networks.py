from pathlib import Path

import pytest
import torch

from bridgegan_batch.config import ModelConfig, RunConfig, load_yaml
from bridgegan_batch.model.bridge import BridgeGenerator, build_discriminator
from tests.conftest import TINY as CONFTEST_TINY

TINY = {**CONFTEST_TINY, "attributes": ("A", "B", "C")}


@pytest.mark.parametrize("at_code_res", [False, True])
def test_shapes_through_both_paths(at_code_res):
    config = ModelConfig(**TINY, spade_at_code_resolution=at_code_res)
    g, d = BridgeGenerator(config), build_discriminator(config)
    x, labels = torch.randn(2, 3, 32, 32), torch.tensor([[1.0, 0, 1], [0, 1, 0]])
    diff = torch.tensor([[0.0, 1, -1], [1, 0, 0]])
    src = g.source_code(x, diff)
    assert src.shape == (2, 4, 8, 8)
    assert g.label_code(torch.randn(2, config.noise_dim), diff).shape == src.shape
    assert g.reference_code(x.flip(0), diff).shape == src.shape
    out = g(x, src)
    assert out.shape == x.shape and out.abs().max() <= 1
    scores, logits = d(out)
    assert scores.shape == (2,) and logits.shape == (2, 3)
    del labels



def test_pooled_reference_code_keeps_what_the_reference_wears_not_where():
    torch.manual_seed(0)
    spatial = BridgeGenerator(ModelConfig(**TINY))
    pooled = BridgeGenerator(ModelConfig(**TINY, reference_code_pooled=True))
    pooled.load_state_dict(spatial.state_dict())  # no parameters of its own: any state loads
    x, diff = torch.randn(2, 3, 32, 32), torch.tensor([[0.0, 1, -1], [1, 0, 0]])
    raw = spatial.reference_code(x, diff)  # [2, Cs, Hs, Ws], E's spatial code
    code = pooled.reference_code(x, diff)
    assert code.shape == raw.shape and raw.std(dim=(2, 3)).min() > 1e-3
    assert torch.allclose(code, raw.mean(dim=(2, 3), keepdim=True).expand_as(raw), atol=1e-6)
    # The same features elsewhere on the grid give the same code; the source's code stays spatial.
    assert torch.allclose(pooled.as_reference(raw.roll(3, dims=3)), code, atol=1e-6)
    assert torch.equal(pooled.source_code(x, diff), spatial.source_code(x, diff))


def test_pixel_branch_starts_silent_then_reads_raw_colour_per_cell_and_d():
    torch.manual_seed(0)
    plain = BridgeGenerator(ModelConfig(**TINY))
    branched = BridgeGenerator(ModelConfig(**TINY, encoder_pixel_branch=True))
    missing, unexpected = branched.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("encoder.pixels.") for k in missing)
    x, diff = torch.randn(2, 3, 32, 32), torch.tensor([[0.0, 1, -1], [1, 0, 0]])
    assert torch.equal(branched.reference_code(x, diff), plain.reference_code(x, diff))  # grown in: no change
    # Trained, it reads absolute colour: instance norm leaves E nearly blind to a uniform shift of the image (all
    # but zero padding's part), the branch not.
    for p in branched.encoder.pixels.parameters():
        torch.nn.init.normal_(p, std=0.5)
    shift = 0.3 * torch.ones(1, 3, 1, 1)
    code = plain.encoder(x, diff)  # [2, Cs, Hs, Ws]
    blind = (plain.encoder(x + shift, diff) - code).abs().mean()
    assert blind < 0.2 * code.abs().mean()
    assert (branched.encoder(x + shift, diff) - branched.encoder(x, diff)).abs().mean() > 5 * blind
    # Each cell reads its own pixels only, and d changes what it writes.
    poked = x.clone()
    poked[:, :, :4, :4] += 1.0  # the top-left cell of a 32 -> 8 code
    pixels = branched.encoder.pixels
    change = (pixels(poked, diff) - pixels(x, diff)).abs().sum(dim=(0, 1))  # [Hs, Ws]
    assert change[0, 0] > 0.1 and change.flatten()[1:].max() == 0
    assert not torch.allclose(pixels(x, diff), pixels(x, -diff))


ROOT = Path(__file__).parents[2]
EXPERIMENTS = ROOT / "docs" / "dev" / "configs"


@pytest.mark.parametrize("name", ["configs/synth64", "configs/celeba128",
                                  *sorted(f"docs/dev/configs/{p.stem}" for p in EXPERIMENTS.glob("*.yaml"))])
def test_every_model_config_builds(name):
    """The shipped configs, and every experiment's overlay on the demo lineage's base."""
    config = load_yaml(ROOT / f"{name}.yaml", RunConfig)
    g = BridgeGenerator(config.model)
    size = config.model.image_size
    x = torch.randn(1, 3, size, size)
    code = g.source_code(x, torch.zeros(1, len(config.model.attributes)))
    assert code.shape[-1] == config.model.code_size and g(x, code).shape == x.shape


def test_bad_geometry_is_a_named_error():
    with pytest.raises(ValueError, match="code_size"):
        ModelConfig(**{**TINY, "code_size": 12})
    with pytest.raises(ValueError, match="image_size"):
        ModelConfig(**{**TINY, "image_size": 48})
    with pytest.raises(ValueError, match="attributes"):
        ModelConfig(**{**TINY, "attributes": ("A", "A")})


def test_separate_attribute_trunk_keeps_the_critic_out_of_the_classifier():
    config = ModelConfig(**TINY, disc_separate_attribute_trunk=True)
    d = build_discriminator(config)
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    scores, logits = d(x)
    assert torch.equal(scores, d.critic(x)) and torch.equal(logits, d.classify(x))
    d.classify(x).sum().backward()
    assert all(p.grad is None for p in d.trunk.parameters())  # the classifier has its own trunk
    assert any(p.grad is not None for p in d.attribute_trunk.parameters())


@pytest.mark.parametrize("separate", [False, True])
def test_scores_keep_their_gap_under_bf16_autocast_far_from_zero(separate):
    # The WGAN loss leaves the critic's offset free; the demo model's drifted to about -14 700, where
    # bf16 steps are 64 apart. The heads run in float32, so the real-fake gap survives autocast.
    torch.manual_seed(0)
    d = build_discriminator(ModelConfig(**TINY, disc_separate_attribute_trunk=separate))
    with torch.no_grad():
        d.adv.bias.fill_(-14_700.0)
        d.cls.bias.fill_(-14_700.0)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    exact_scores, exact_logits = d(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores, logits = d(x)
        critic, classify = d.critic(x), d.classify(x)
    for got in (scores, critic):
        assert got.dtype == torch.float32
        assert (got - exact_scores).abs().max() < 0.05  # with the heads in bf16: off by 20 (measured)
        assert (got - got.mean()).std() > 0
    for got in (logits, classify):
        assert (got - exact_logits).abs().max() < 0.05


def test_projection_critic_starts_unconditional_and_then_reads_the_labels():
    torch.manual_seed(0)
    d = build_discriminator(ModelConfig(**TINY, disc_projection=True))
    x, labels = torch.rand(4, 3, 32, 32) * 2 - 1, torch.tensor([[1.0, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    assert torch.equal(d.critic(x, labels), d.critic(x))  # zero embedding: the authors' critic
    with torch.no_grad():
        d.embed.weight.normal_()
    with_labels, flipped = d.critic(x, labels), d.critic(x, 1 - labels)
    assert not torch.allclose(with_labels, flipped)
    assert torch.equal(d(x, labels)[0], with_labels) and torch.equal(d(x)[0], d.critic(x))
    plain = build_discriminator(ModelConfig(**TINY))
    assert plain.embed is None and torch.equal(plain.critic(x, labels), plain.critic(x))


def test_patch_critic_starts_as_the_critic_and_judges_each_patch_by_its_neighbourhood():
    torch.manual_seed(0)
    plain, patched = build_discriminator(ModelConfig(**TINY)), build_discriminator(ModelConfig(**TINY,
                                                                                              disc_patch_critic=True))
    missing, unexpected = patched.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("patch.") for k in missing)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(patched.critic(x), plain.critic(x))  # its last layer at zero
    assert torch.equal(patched(x)[0], patched.critic(x)) and torch.equal(patched(x)[1], plain(x)[1])
    with torch.no_grad():
        patched.patch[-1].weight.normal_()
    patched.critic(x).sum().backward()
    assert patched.patch[1].weight.grad.abs().sum() > 0 and patched.trunk[0].weight.grad.abs().sum() > 0

    def patch_map(images: torch.Tensor) -> torch.Tensor:  # [B, 1, H/2, W/2]
        return patched.patch(patched.trunk[: patched.patch_downs + 1](images)).detach()

    corner = x.clone()
    corner[:, :, :4, :4] = 1.0  # the top-left 4 x 4 pixels
    changed = (patch_map(corner) - patch_map(x)).abs()[:, 0] > 0  # [B, 16, 16]
    assert changed[:, 0, 0].all() and not changed[:, 8:].any() and not changed[:, :, 8:].any()  # nor far cells
    assert not torch.equal(patched.critic(corner), patched.critic(x))


def gained_from_plain(option: str, prefix: str):
    """A plain G and one with `option`, loaded from it: only `prefix` keys are new. -> (plain, gained, x, code)"""
    torch.manual_seed(0)
    plain, gained = BridgeGenerator(ModelConfig(**TINY)), BridgeGenerator(ModelConfig(**TINY, **{option: True}))
    missing, unexpected = gained.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith(prefix) for k in missing)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    code = plain.source_code(x, torch.zeros(2, 3))
    gained(x, code).square().mean().backward()  # the loss reaches the new part
    new_part = [p for k, p in gained.named_parameters() if k.startswith(prefix)]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in new_part)
    return plain, gained, x, code


def test_generator_skips_start_as_the_plain_generator_and_then_carry_the_source():
    plain, skipped, x, code = gained_from_plain("generator_skips", "generator.skips.")
    assert torch.equal(skipped(x, code), plain(x, code))  # zero convs: an exact warm start
    with torch.no_grad():  # once they move, the output follows the source's detail
        for p in skipped.generator.skips.parameters():
            p.normal_(0, 0.1)
    assert not torch.allclose(skipped(x, code), plain(x, code))


def test_generator_keep_mask_starts_near_the_plain_generator_and_can_keep_the_source():
    plain, masked, x, code = gained_from_plain("generator_keep_mask", "generator.keep.")
    start = torch.sigmoid(torch.tensor(-4.0))
    assert torch.allclose(masked(x, code), start * x + (1 - start) * plain(x, code), atol=1e-6)
    with torch.no_grad():  # a wide-open mask returns the source whatever G draws
        masked.generator.keep.conv.bias.fill_(3.0)
    assert torch.allclose(masked(x, code), x, atol=1e-6)
    image, keep = masked.draw(x, code)  # what the loss sees: G's own image and the mask, apart
    assert keep.shape == (2, 1, 32, 32) and torch.equal(masked(x, code), keep * x + (1 - keep) * image)
    assert plain.draw(x, code)[1] is None and torch.equal(plain.draw(x, code)[0], plain(x, code))


def test_twin_attribute_head_shares_the_attribute_trunk():
    torch.manual_seed(0)
    d = build_discriminator(ModelConfig(**TINY, disc_separate_attribute_trunk=True, disc_twin_attribute_head=True))
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    logits, twin = d.classify_with_twin(x)
    assert logits.shape == twin.shape == (4, 3) and torch.equal(logits, d.classify(x))
    assert not torch.allclose(logits, twin)  # a head of its own
    twin.sum().backward()
    assert d.cls.weight.grad is None and d.twin.weight.grad is not None
    assert any(p.grad is not None for p in d.attribute_trunk.parameters())  # on the attribute trunk, like the head
    with pytest.raises(ValueError, match="no twin attribute head"):
        build_discriminator(ModelConfig(**TINY)).classify_with_twin(x)
