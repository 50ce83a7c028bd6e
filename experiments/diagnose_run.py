"""Is a training run's generator using its latent codes? Statistics from a resume state.

    python experiments/diagnose_run.py runs/00000-synth64/state.pt

Prints, on 128 held-out SynthFaces (every attribute at 50 %), with the first attribute flipped:
how much the codes vary across faces and with d, how much G's output moves when d does, and
D's attribute accuracy on real faces.
A collapsed run shows codes that are nearly constant and an output that ignores d.
"""

from __future__ import annotations

import sys

import torch

from bridgegan_batch.config import RunConfig
from bridgegan_batch.eval.judge import balanced_synth_config
from bridgegan_batch.model.bridge import BridgeGenerator, build_discriminator
from bridgegan_batch.model.checkpoint import load_state
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.train.data import SynthBatches


@torch.no_grad()
def main(path: str) -> None:
    state = load_state(path)
    config = RunConfig.model_validate_json(state["config"])
    g, d_net = BridgeGenerator(config.model).eval(), build_discriminator(config.model).eval()
    g.load_state_dict(state["generator"])
    d_net.load_state_dict(state["discriminator"])
    # Balanced faces, so that D's accuracy is not just each attribute's majority share.
    images, labels = SynthBatches(seed=5, batch_size=128, size=config.model.image_size,
                                  attributes=config.model.attributes, config=balanced_synth_config()).batch(0)
    x, labels = to_tensor(images), torch.from_numpy(labels)
    d = torch.zeros_like(labels)
    d[:, 0] = 1 - 2 * labels[:, 0]  # flip the first attribute
    zero = torch.zeros_like(d)
    r = torch.randn(len(x), config.model.noise_dim, generator=torch.Generator().manual_seed(0))
    src, src0 = g.source_code(x, d), g.source_code(x, zero)
    lab, ref = g.label_code(r, d), g.reference_code(x.roll(1, 0), d)
    out, out0 = g(x, src + lab), g(x, src0 + g.label_code(r, zero))
    _, logits = d_net(x)
    accuracy = ((logits > 0).float() == labels).float().mean(0)
    print(f"step {state['step']}")
    for name, code in (("source E(x,-d)", src), ("label M(r,d)", lab), ("reference E(x_ref,d)", ref)):
        print(f"{name:<22} mean |S| {code.abs().mean():.4f}   spread across faces {code.std(0).mean():.4f}")
    print(f"source code moved by d      {(src - src0).abs().mean():.4f}")
    print(f"G output moved by d         {(out - out0).abs().mean():.4f}   (pixels in [-1, 1])")
    print("D attribute accuracy (50 %) " + ", ".join(
        f"{a}={acc:.2f}" for a, acc in zip(config.model.attributes, accuracy.tolist(), strict=True)))


if __name__ == "__main__":
    main(sys.argv[1])
