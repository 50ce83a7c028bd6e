"""The inference API: label-, reference- and interpolation-driven translation of face batches.

Output is a pure function of (weights, inputs, seeds): noise comes from one generator per
sample seed, and every network normalises per sample, so batching changes a result only by float
rounding (~1e-6). With `batch_invariant=True` on CPU the oneDNN kernels are switched off, whose
choice depends on the batch size: results are then bit-identical for any batching, ~1.7x slower.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from bridgegan_batch.config import ModelConfig
from bridgegan_batch.data.attributes import EXCLUSIVE_GROUPS, check_changes, check_names
from bridgegan_batch.model.bridge import BridgeGenerator, build_discriminator
from bridgegan_batch.model.checkpoint import CheckpointError, load_export
from bridgegan_batch.model.networks import Discriminator
from bridgegan_batch.train.targets import group_indices

AUTHORS_D_SCALE = 1.5
# The demo model shipped inside the package (trained on SynthFaces with configs/synth64.yaml).
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "synth64.safetensors"


def _translation(method):
    """Run a translation method without autograd, under the translator's kernel choice."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with torch.inference_mode(), self._kernels():
            return method(self, *args, **kwargs)

    return wrapper


class Translator:
    """Translates [-1, 1] image batches [B, 3, H, W] toward target labels [B, N] (floats 0/1)."""

    def __init__(self, model: BridgeGenerator, config: ModelConfig, discriminator: Discriminator | None = None,
                 *, device: str | torch.device = "cpu", d_scale: float = AUTHORS_D_SCALE,
                 batch_invariant: bool = False):
        self.config, self.device, self.d_scale = config, torch.device(device), d_scale
        self.batch_invariant = batch_invariant
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.discriminator = discriminator.to(self.device).eval().requires_grad_(False) if discriminator else None
        self.groups = group_indices(config.attributes, EXCLUSIVE_GROUPS)

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto", d_scale: float = AUTHORS_D_SCALE,
             batch_invariant: bool = False) -> Translator:
        """A translator from an export file (see model/checkpoint.py)."""
        modules, config, _ = load_export(path)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model = BridgeGenerator(config)
        disc = build_discriminator(config) if "discriminator" in modules else None
        try:
            model.load_state_dict(modules["bridge"])
            if disc is not None:
                disc.load_state_dict(modules["discriminator"])
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: weights do not fit its config ({str(exc)[:300]})") from exc
        return cls(model, config, disc, device=device, d_scale=d_scale, batch_invariant=batch_invariant)

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

    @contextlib.contextmanager
    def _kernels(self):
        if not (self.batch_invariant and self.device.type == "cpu"):
            yield
            return
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")  # Intel-GPU notice
            with torch.backends.mkldnn.flags(enabled=False):
                yield

    def _noise(self, seeds: Sequence[int]) -> torch.Tensor:
        rows = [torch.randn(self.config.noise_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        return torch.stack(rows).to(self.device)  # [B, R]

    def _label_code(self, seeds: Sequence[int], d: torch.Tensor) -> torch.Tensor:
        r = self._noise(seeds)  # [B, R]
        if self.batch_invariant:  # M's linear layer is a GEMM whose rounding depends on the batch size
            return torch.cat([self.model.label_code(r[i : i + 1], d[i : i + 1]) for i in range(len(r))])
        return self.model.label_code(r, d)

    def _d(self, src_labels: torch.Tensor, target_labels: torch.Tensor) -> torch.Tensor:
        return (target_labels.to(self.device) - src_labels.to(self.device)) * self.d_scale  # [B, N]

    @_translation
    def label(self, x: torch.Tensor, src_labels: torch.Tensor, target_labels: torch.Tensor,
              seeds: Sequence[int]) -> torch.Tensor:
        """Label-driven: S_rand = E(x, -d) + M(r, d), one noise stream per seed. -> [B, 3, H, W]"""
        x, d = x.to(self.device), self._d(src_labels, target_labels)
        code = self.model.source_code(x, d) + self._label_code(seeds, d)
        return self.model(x, code)

    @_translation
    def reference(self, x: torch.Tensor, src_labels: torch.Tensor, ref_x: torch.Tensor,
                  ref_labels: torch.Tensor, target_labels: torch.Tensor | None = None) -> torch.Tensor:
        """Reference-driven: S_ref = E(x, -d) + E(x_ref, d); the target defaults to the reference's labels."""
        target = ref_labels if target_labels is None else target_labels
        x, d = x.to(self.device), self._d(src_labels, target)
        code = self.model.source_code(x, d) + self.model.reference_code(ref_x.to(self.device), d)
        return self.model(x, code)

    @_translation
    def interpolate(self, x: torch.Tensor, src_labels: torch.Tensor, ref_x: torch.Tensor,
                    ref_labels: torch.Tensor, target_labels: torch.Tensor | None, seeds: Sequence[int],
                    alpha: float | torch.Tensor = 0.5) -> torch.Tensor:
        """S_int = alpha * S_rand + (1 - alpha) * S_ref (alpha per sample or shared). -> [B, 3, H, W]"""
        target = ref_labels if target_labels is None else target_labels
        x, d = x.to(self.device), self._d(src_labels, target)
        src = self.model.source_code(x, d)
        lab = self._label_code(seeds, d)
        ref = self.model.reference_code(ref_x.to(self.device), d)
        a = torch.as_tensor(alpha, dtype=x.dtype, device=self.device).reshape(-1, 1, 1, 1)
        return self.model(x, src + a * lab + (1 - a) * ref)
