import pytest
import torch

from bridgegan_batch.config import ModelConfig
from bridgegan_batch.model.bridge import BridgeGenerator, build_discriminator
from bridgegan_batch.model.checkpoint import CheckpointError, save_export
from bridgegan_batch.model.d_scale import DScale
from bridgegan_batch.model.translator import Translator
from tests.model.test_networks import TINY

NAMES = ("Eyeglasses", "Black_Hair", "Blond_Hair")


@pytest.fixture(scope="module")
def export_path(tmp_path_factory):
    torch.manual_seed(0)
    config = ModelConfig(**{**TINY, "attributes": NAMES})
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    save_export(path, {"bridge": BridgeGenerator(config), "discriminator": build_discriminator(config)}, config)
    return path


def _inputs(b=6):
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(b, 3, 32, 32, generator=gen) * 2 - 1
    src = torch.tensor([[0.0, 1, 0]] * b)
    return x, src


def test_targets_keep_exclusive_groups(export_path):
    t = Translator.load(export_path, device="cpu")
    _, src = _inputs(2)
    assert t.targets(src, {"Blond_Hair": 1}).tolist() == [[0, 0, 1]] * 2
    assert t.targets(src, {"Eyeglasses": 1, "Black_Hair": 0}).tolist() == [[1, 0, 0]] * 2


def test_label_noise_comes_from_the_seed(export_path):
    t = Translator.load(export_path, device="cpu")
    x, src = _inputs()
    target = t.targets(src, {"Eyeglasses": 1})
    a = t.label(x, src, target, seeds=range(6))
    b = t.label(x, src, target, seeds=range(6))
    c = t.label(x, src, target, seeds=range(10, 16))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert not a.requires_grad


@pytest.mark.parametrize("edit", ["direct", "residual"])
@pytest.mark.parametrize("batch_invariant", [False, True])
def test_result_does_not_depend_on_the_batch(export_path, batch_invariant, edit):
    t = Translator.load(export_path, device="cpu", batch_invariant=batch_invariant, edit=edit)
    x, src = _inputs(16)
    ref_x = x.flip(0)
    target = t.targets(src, {"Blond_Hair": 1})
    alpha = torch.linspace(0, 1, 16)
    whole = [t.label(x, src, target, seeds=range(16)), t.reference(x, src, ref_x, target),
             t.interpolate(x, src, ref_x, target, None, seeds=range(16), alpha=alpha)]
    parts = [torch.cat([t.label(x[i : i + 5], src[i : i + 5], target[i : i + 5], seeds=range(i, min(i + 5, 16)))
                        for i in range(0, 16, 5)]),
             torch.cat([t.reference(x[i : i + 2], src[i : i + 2], ref_x[i : i + 2], target[i : i + 2])
                        for i in range(0, 16, 2)]),
             torch.cat([t.interpolate(x[i : i + 3], src[i : i + 3], ref_x[i : i + 3], target[i : i + 3], None,
                                      seeds=range(i, min(i + 3, 16)), alpha=alpha[i : i + 3])
                        for i in range(0, 16, 3)])]
    for w, p in zip(whole, parts, strict=True):
        if batch_invariant:
            assert torch.equal(w, p)
        else:
            assert torch.allclose(w, p, atol=1e-5)


@pytest.mark.parametrize("edit", ["direct", "residual"])
def test_interpolation_ends_are_the_two_paths(export_path, edit):
    t = Translator.load(export_path, device="cpu", edit=edit)
    x, src = _inputs(3)
    target = t.targets(src, {"Eyeglasses": 1})
    ref_x = x.roll(1, 0)
    assert torch.allclose(t.interpolate(x, src, ref_x, target, None, range(3), alpha=1.0),
                          t.label(x, src, target, range(3)), atol=1e-6)
    assert torch.allclose(t.interpolate(x, src, ref_x, target, None, range(3), alpha=0.0),
                          t.reference(x, src, ref_x, target), atol=1e-6)


def test_residual_edit_is_the_change_g_makes_on_the_source(export_path):
    direct = Translator.load(export_path, device="cpu")
    residual = Translator.load(export_path, device="cpu", edit="residual")
    x, src = _inputs(4)
    target = direct.targets(src, {"Eyeglasses": 1})
    # G's no-change output, from the code the label path's self-reconstruction is trained with.
    model, zero = direct.model, torch.zeros_like(src)
    with torch.inference_mode():
        rest = model(x, model.source_code(x, zero) + model.label_code(direct._noise(range(4), 4), zero))
    expected = (x + direct.label(x, src, target, range(4)) - rest).clamp(-1, 1)
    edited = residual.label(x, src, target, range(4))
    assert torch.allclose(edited, expected, atol=1e-5) and not torch.allclose(edited, x, atol=1e-2)
    # The reference path subtracts its trained self-reconstruction, E(x, 0) twice, not E(x_ref, 0).
    ref_x = x.roll(1, 0)
    with torch.inference_mode():
        src0 = model.source_code(x, zero)
        rest = model(x, src0 + src0)
    expected = (x + direct.reference(x, src, ref_x, target) - rest).clamp(-1, 1)
    assert torch.allclose(residual.reference(x, src, ref_x, target), expected, atol=1e-5)
    # Asked to change nothing, the label path returns the source itself, and so do the reference
    # paths when the reference is the source.
    assert torch.equal(residual.label(x, src, src, range(4)), x)
    assert torch.equal(residual.reference(x, src, x, src), x)
    assert torch.equal(residual.interpolate(x, src, x, src, None, range(4), alpha=0.3), x)
    assert not torch.equal(direct.label(x, src, src, range(4)), x)


def test_pooled_reference_path_subtracts_its_own_self_reconstruction(tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(**{**TINY, "attributes": NAMES, "reference_code_pooled": True})
    path = tmp_path / "pooled.safetensors"
    save_export(path, {"bridge": BridgeGenerator(config), "discriminator": build_discriminator(config)}, config)
    direct, residual = Translator.load(path, device="cpu"), Translator.load(path, device="cpu", edit="residual")
    x, src = _inputs(4)
    target = direct.targets(src, {"Eyeglasses": 1})
    model, zero = direct.model, torch.zeros_like(src)
    with torch.inference_mode():
        src0 = model.source_code(x, zero)
        rest = model(x, src0 + model.as_reference(src0))
    expected = (x + direct.reference(x, src, x.roll(1, 0), target) - rest).clamp(-1, 1)
    assert torch.allclose(residual.reference(x, src, x.roll(1, 0), target), expected, atol=1e-5)
    assert torch.equal(residual.reference(x, src, x, src), x)
    assert torch.equal(residual.interpolate(x, src, x, src, None, range(4), alpha=0.3), x)


def test_unknown_edit_mode_is_refused(export_path):
    with pytest.raises(ValueError, match="edit: 'blend'"):
        Translator.load(export_path, device="cpu", edit="blend")


def test_predicts_labels_for_unlabelled_data(export_path):
    t = Translator.load(export_path, device="cpu")
    x, _ = _inputs(4)
    labels = t.predict_labels(x)
    assert labels.shape == (4, 3) and set(labels.unique().tolist()) <= {0.0, 1.0}


def test_loading_refuses_pickles_and_other_files(tmp_path, export_path):
    for name, data in [("model.pt", b"whatever"), ("x.safetensors", b"not a safetensors file")]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match=name):
            Translator.load(tmp_path / name)
    with pytest.raises(CheckpointError, match="not found"):
        Translator.load(tmp_path / "missing.safetensors")
    from bridgegan_batch.eval.judge import Judge

    with pytest.raises(CheckpointError, match="expected a JudgeConfig"):
        Judge.load(export_path)


def test_targets_reject_unknown_names_bad_values_and_two_hair_colours(export_path):
    t = Translator.load(export_path, device="cpu")
    _, src = _inputs(1)
    for changes, message in [({"Wings": 1}, "Wings"), ({"Eyeglasses": 2}, "0 or 1"),
                             ({"Black_Hair": 1, "Blond_Hair": 1}, "exclusive")]:
        with pytest.raises(ValueError, match=message):
            t.targets(src, changes)


def test_from_bytes_is_the_file_and_names_its_source(export_path):
    from pathlib import Path

    data = Path(export_path).read_bytes()
    a, b = Translator.load(export_path, device="cpu"), Translator.from_bytes(data, "shipped", device="cpu")
    x, src = _inputs(3)
    target = a.targets(src, {a.attributes[0]: 1})
    assert torch.equal(a.label(x, src, target, [1, 2, 3]), b.label(x, src, target, [1, 2, 3]))
    for broken in (data[:4], data[: len(data) // 2], b"\xff" * 64):  # no header, cut tensors, garbage
        with pytest.raises(CheckpointError, match="shipped"):
            Translator.from_bytes(broken, "shipped")


def test_the_d_scale_is_the_exports_own_unless_given(tmp_path):
    config = ModelConfig(**{**TINY, "attributes": NAMES})
    modules = {"bridge": BridgeGenerator(config)}
    for info, expected in [({}, 1.5), ({"d_scale": 1.25}, 1.25)]:
        path = save_export(tmp_path / "m.safetensors", modules, config, info)
        assert Translator.load(path).d_scale == expected
        assert Translator.from_bytes(path.read_bytes(), "m").d_scale == expected
        assert Translator.load(path, d_scale=2.0).d_scale == 2.0
    for bad in ("strong", -1, 0, True, None):
        path = save_export(tmp_path / "bad.safetensors", modules, config, {"d_scale": bad})
        with pytest.raises(CheckpointError, match=r"bad.safetensors: its info d_scale"):
            Translator.load(path)


def test_each_component_of_d_takes_its_attributes_and_directions_scale(export_path):
    per_direction = {"add": {"Eyeglasses": 1.0}, "remove": {"Black_Hair": 2.0}}
    t = Translator.load(export_path, device="cpu", d_scale=DScale.of(per_direction))
    x, src = _inputs(2)  # Black_Hair on, Eyeglasses off
    target = t.targets(src, {"Eyeglasses": 1, "Blond_Hair": 1})  # adds Eyeglasses and Blond, removes Black
    assert t.scaled_d(src, target).tolist() == [[1.0, -2.0, 1.5]] * 2
    # The same as a single-scale translator where the scales agree: adding Eyeglasses alone at 1.0.
    alone = t.targets(src, {"Eyeglasses": 1})
    uniform = Translator.load(export_path, device="cpu", d_scale=1.0)
    assert torch.equal(t.label(x, src, alone, [1, 2]), uniform.label(x, src, alone, [1, 2]))
    with pytest.raises(ValueError, match=r"unknown attributes \['Wings'\]"):
        Translator.load(export_path, device="cpu", d_scale=DScale(add={"Wings": 1.2}))


def test_an_export_may_record_a_scale_per_attribute(tmp_path):
    config = ModelConfig(**{**TINY, "attributes": NAMES})
    modules = {"bridge": BridgeGenerator(config)}
    recorded = {"default": 1.5, "add": {"Eyeglasses": 1.125}, "remove": {}}
    path = save_export(tmp_path / "m.safetensors", modules, config, {"d_scale": recorded})
    assert Translator.load(path).d_scale == DScale.of(recorded)
    path = save_export(tmp_path / "wings.safetensors", modules, config, {"d_scale": {"add": {"Wings": 1.2}}})
    with pytest.raises(CheckpointError, match=r"wings.safetensors: unknown attributes \['Wings'\]"):
        Translator.load(path)
