"""The inference API: label-, reference- and interpolation-driven translation of face batches.

Output is a pure function of (weights, inputs, seeds): noise comes from one generator per
sample seed, and every network normalises per sample, so batching changes a result only by float
rounding (~1e-5: kernels block differently for another batch size). With `batch_invariant=True`
each sample runs on its own, so results are bit-identical for any batching (for a given device
and thread count).

Two ways to turn a code into pixels (`edit`):
- `direct`, the method as published: the output is G(x, S).
- `residual`: the output is x + (G(x, S) - G(x, S_null)), where S_null is the code the path's
  self-reconstruction is trained with (d = 0; the reference path's is E(x, 0) + E(x, 0)). Only the
  change G makes leaves the model; the source's own pixels carry the rest, so what G cannot
  reproduce of a face does not reach the output. E and G run once more each (scripts/bench_edit.py).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from bridgegan_batch.config import EDIT_MODES, ModelConfig
from bridgegan_batch.data.attributes import EXCLUSIVE_GROUPS, check_changes, check_names, group_indices
from bridgegan_batch.model.bridge import BridgeGenerator, build_discriminator
from bridgegan_batch.model.checkpoint import CheckpointError, load_export, parse_export
from bridgegan_batch.model.d_scale import AUTHORS_D_SCALE, DScale, parse_d_scale
from bridgegan_batch.model.networks import Discriminator

# The demo model shipped inside the package (trained on SynthFaces with configs/synth64.yaml).
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "synth64.safetensors"


def recommended_d_scale(info: Mapping, name: str, attributes: Sequence[str]) -> float | DScale:
    """The test-time d scale an export recommends (`info["d_scale"]`, recorded by `export --d-scale`),
    else the authors' 1.5. A model's best strength is its own, chosen on validation faces like a threshold."""
    try:
        scale = parse_d_scale(info.get("d_scale", AUTHORS_D_SCALE), "its info d_scale")
        if isinstance(scale, DScale):
            scale.check(attributes)
    except ValueError as exc:
        raise CheckpointError(f"{name}: {exc}") from None
    return scale


def _per_sample(value, i: int, batch: int):
    """Row i of a batched argument (a [B, ...] tensor or a length-B sequence); anything else as is."""
    if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == batch:
        return value[i : i + 1]
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == batch:
        return value[i : i + 1]
    return value


def _translation(method):
    """Run a translation method without autograd; batch-invariant translators run it per sample."""

    @functools.wraps(method)
    def wrapper(self, x, *args, **kwargs):
        with torch.inference_mode():
            if not self.batch_invariant or len(x) == 1:
                return method(self, x, *args, **kwargs)
            # Kernels (GEMM blocking, oneDNN algorithms) may round differently for another batch
            # size; one sample at a time, every result is computed the same way whatever the batch.
            b = len(x)
            return torch.cat([method(self, x[i : i + 1], *(_per_sample(a, i, b) for a in args),
                                     **{k: _per_sample(v, i, b) for k, v in kwargs.items()}) for i in range(b)])

    return wrapper


class Translator:
    """Translates [-1, 1] image batches [B, 3, H, W] toward target labels [B, N] (floats 0/1)."""

    def __init__(self, model: BridgeGenerator, config: ModelConfig, discriminator: Discriminator | None = None,
                 *, device: str | torch.device = "cpu", d_scale: float | DScale = AUTHORS_D_SCALE,
                 batch_invariant: bool = False, edit: str = "direct"):
        if edit not in EDIT_MODES:
            raise ValueError(f"edit: {edit!r} is not one of {', '.join(EDIT_MODES)}")
        self.config, self.device, self.edit = config, torch.device(device), edit
        self.d_scale = parse_d_scale(d_scale, "d_scale")  # a number, or a DScale with per-attribute scales
        add, remove = DScale.of(self.d_scale).vectors(config.attributes)  # [N] each
        self._d_add, self._d_remove = add.to(self.device), remove.to(self.device)
        self.batch_invariant = batch_invariant
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.discriminator = discriminator.to(self.device).eval().requires_grad_(False) if discriminator else None
        self.groups = group_indices(config.attributes, EXCLUSIVE_GROUPS)

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto", d_scale: float | DScale | None = None,
             batch_invariant: bool = False, edit: str = "direct") -> Translator:
        """A translator from an export file (see model/checkpoint.py); d_scale None: the export's own."""
        modules, config, info = load_export(path)
        d_scale = recommended_d_scale(info, str(path), config.attributes) if d_scale is None else d_scale
        return cls._from_export(modules, config, str(path), device, d_scale, batch_invariant, edit)

    @classmethod
    def from_bytes(cls, data: bytes, name: str, *, device: str = "auto", d_scale: float | DScale | None = None,
                   batch_invariant: bool = False, edit: str = "direct") -> Translator:
        """A translator from an export's bytes (shipped to Ray actors); errors name `name`."""
        modules, config, info = parse_export(data, name)
        d_scale = recommended_d_scale(info, name, config.attributes) if d_scale is None else d_scale
        return cls._from_export(modules, config, name, device, d_scale, batch_invariant, edit)

    @classmethod
    def _from_export(cls, modules: dict, config: ModelConfig, name: str, device: str, d_scale: float | DScale,
                     batch_invariant: bool, edit: str) -> Translator:
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model = BridgeGenerator(config)
        disc = build_discriminator(config) if "discriminator" in modules else None
        try:
            model.load_state_dict(modules["bridge"])
            if disc is not None:
                disc.load_state_dict(modules["discriminator"])
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{name}: weights do not fit its config ({str(exc)[:300]})") from exc
        return cls(model, config, disc, device=device, d_scale=d_scale, batch_invariant=batch_invariant, edit=edit)

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.config.attributes

    # ------------------------------------------------------------------ labels

    def targets(self, src_labels: torch.Tensor, changes: Mapping[str, int]) -> torch.Tensor:
        """`src_labels` with `changes` applied to every row; exclusive groups stay consistent. [B, N]"""
        check_names(list(changes), self.attributes, "attribute")
        check_changes(changes)
        target = src_labels.clone()
        for name, value in changes.items():
            k = self.attributes.index(name)
            if value == 1:
                for group in self.groups:
                    if k in group:
                        target[:, group] = 0
            target[:, k] = float(value)
        return target

    @torch.inference_mode()
    def predict_labels(self, x: torch.Tensor) -> torch.Tensor:
        """Source labels from D's attribute head, for unlabelled data. [B,3,H,W] -> [B, N] in {0, 1}"""
        if self.discriminator is None:
            raise ValueError("this export has no attribute head; the data needs labels")
        return (self.discriminator.classify(x.to(self.device)) > 0).float()

    # ------------------------------------------------------------------ translation

    def scaled_d(self, src_labels: torch.Tensor, target_labels: torch.Tensor) -> torch.Tensor:
        """d = target - source, each component by its attribute's and direction's scale. [B, N]"""
        d = target_labels.to(self.device) - src_labels.to(self.device)  # [B, N]
        return torch.where(d > 0, d * self._d_add, d * self._d_remove)

    def _noise(self, seeds: Sequence[int], batch: int) -> torch.Tensor:
        if len(seeds) != batch:
            raise ValueError(f"one seed per sample: got {len(seeds)} seeds for {batch} samples")
        rows = [torch.randn(self.config.noise_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        return torch.stack(rows).to(self.device)  # [B, R]

    @_translation
    def label(self, x: torch.Tensor, src_labels: torch.Tensor, target_labels: torch.Tensor,
              seeds: Sequence[int]) -> torch.Tensor:
        """Label-driven: S_rand = E(x, -d) + M(r, d), one noise stream per seed. -> [B, 3, H, W]"""
        x, d = x.to(self.device), self.scaled_d(src_labels, target_labels)
        r = self._noise(seeds, len(x))
        code = self.model.source_code(x, d) + self.model.label_code(r, d)
        return self._render(x, code, lambda src0: src0 + self.model.label_code(r, torch.zeros_like(d)))

    @_translation
    def reference(self, x: torch.Tensor, src_labels: torch.Tensor, ref_x: torch.Tensor,
                  ref_labels: torch.Tensor, target_labels: torch.Tensor | None = None) -> torch.Tensor:
        """Reference-driven: S_ref = E(x, -d) + E(x_ref, d); the target defaults to the reference's labels."""
        target = ref_labels if target_labels is None else target_labels
        x, d = x.to(self.device), self.scaled_d(src_labels, target)
        code = self.model.source_code(x, d) + self.model.reference_code(ref_x.to(self.device), d)
        return self._render(x, code, lambda src0: src0 + self.model.as_reference(src0))  # x as its own reference

    @_translation
    def interpolate(self, x: torch.Tensor, src_labels: torch.Tensor, ref_x: torch.Tensor,
                    ref_labels: torch.Tensor, target_labels: torch.Tensor | None, seeds: Sequence[int],
                    alpha: float | torch.Tensor = 0.5) -> torch.Tensor:
        """S_int = alpha * S_rand + (1 - alpha) * S_ref (alpha per sample or shared). -> [B, 3, H, W]"""
        target = ref_labels if target_labels is None else target_labels
        x, d = x.to(self.device), self.scaled_d(src_labels, target)
        src = self.model.source_code(x, d)
        r = self._noise(seeds, len(x))
        lab = self.model.label_code(r, d)
        ref = self.model.reference_code(ref_x.to(self.device), d)
        a = torch.as_tensor(alpha, dtype=x.dtype, device=self.device).reshape(-1, 1, 1, 1)
        return self._render(x, src + a * lab + (1 - a) * ref,
                            lambda src0: src0 + a * self.model.label_code(r, torch.zeros_like(d))
                            + (1 - a) * self.model.as_reference(src0))

    def _render(self, x: torch.Tensor, code: torch.Tensor, null_code) -> torch.Tensor:
        """G(x, code), or with `edit="residual"` x + (G(x, code) - G(x, S_null)), S_null = null_code(E(x, 0)):
        the path's code for d = 0, which for the label and reference paths is the code their
        self-reconstruction is trained with (the reference path's: E(x, 0) + E(x, 0), the second in the reference's
        role); interpolate mixes the two. [B,3,H,W],[B,Cs,Hs,Ws] -> [B,3,H,W]"""
        if self.edit == "direct":
            return self.model(x, code)
        src0 = self.model.source_code(x, x.new_zeros(len(x), len(self.attributes)))
        # Two calls, not one on a doubled batch: with scripts/bench_edit.py on the 2-core CPU, one call ran at
        # 0.30-0.46 of direct's rate and two at 0.43-0.61; and the peak memory stays that of one batch.
        out, null = self.model(x, code), self.model(x, null_code(src0))
        return (x + (out - null)).clamp(-1, 1)
