"""Does a classifier that never saw a fake also see blond hair on the model's "made blond" outputs?

    python experiments/probe_shortcut.py [--model EXPORT] [--judge runs/judge-synth64.safetensors] [--steps 1500]
                                     [--heads conv4x4 pooled] [--augment translation cutout]

docs/dev/training_log.md: asked for blond hair, the demo model paints a pale patch that its own attribute head
reads as blond and the judge does not. This trains fresh attribute classifiers of D's attribute-trunk
shape on real SynthFaces only (two heads: D's 4x4 conv, and a pooled linear one; two seeds each) and
reports, for each, its accuracy on held-out real faces and how often it sees blond on 300 translations
of non-blond faces to blond. High rates mean the patch is a cue that classifiers learn from real faces,
not only a weakness G found in its own D. `--augment` trains the classifiers on DiffAugment-ed faces
(train/diff_augment.py), as D sees them with `train.diff_augment`. One JSON line per classifier.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from bridgegan_batch.config import ModelConfig
from bridgegan_batch.data.arrays import load_arrays
from bridgegan_batch.eval.judge import Judge
from bridgegan_batch.model.bridge import build_discriminator
from bridgegan_batch.model.checkpoint import load_export
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import DEFAULT_MODEL, Translator
from bridgegan_batch.train.diff_augment import POLICIES, diff_augment


class PooledHead(nn.Module):
    """A trunk, global average pooling and a linear head. [B, 3, H, W] -> [B, N]"""

    def __init__(self, trunk: nn.Module, channels: int, n: int):
        super().__init__()
        self.trunk, self.head = trunk, nn.Linear(channels, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x).mean(dim=(2, 3)))


def classifier(config: ModelConfig, head: str) -> nn.Module:
    d = build_discriminator(config.model_copy(update={"disc_separate_attribute_trunk": True}))
    if head == "conv4x4":
        return nn.Sequential(d.attribute_trunk, d.cls, nn.Flatten(1))  # D's own attribute path
    return PooledHead(d.attribute_trunk, d.cls.in_channels, len(config.attributes))


def logits_of(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([net(x[i : i + 100]) for i in range(0, len(x), 100)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--judge", default="runs/judge-synth64.safetensors")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--heads", nargs="+", choices=["conv4x4", "pooled"], default=["conv4x4", "pooled"])
    parser.add_argument("--augment", nargs="*", choices=POLICIES, default=[])
    args = parser.parse_args()
    torch.manual_seed(0)

    translator = Translator.load(args.model, device="cpu")
    _, config, _ = load_export(args.model, ModelConfig)
    attributes = list(config.attributes)
    blond = attributes.index("Blond_Hair")
    train_x, train_y = load_arrays("synth", n=16_000, size=config.image_size, attributes=attributes, seed=4242)
    test_x, test_y = load_arrays("synth", n=600, size=config.image_size, attributes=attributes, seed=777)
    test_x, test_y = to_tensor(test_x), torch.from_numpy(test_y)
    keep = test_y[:, blond] == 0
    sources, labels = test_x[keep][:300], test_y[keep][:300]
    target = translator.targets(labels, {"Blond_Hair": 1})  # the other hair colours off
    with torch.inference_mode():
        fakes = torch.cat([translator.label(sources[i : i + 50], labels[i : i + 50], target[i : i + 50],
                                            seeds=list(range(i, i + 50))) for i in range(0, len(sources), 50)])

    def sees_blond(net: nn.Module) -> float:
        return round((logits_of(net, fakes)[:, blond] > 0).float().mean().item(), 3)

    print(json.dumps({"classifier": "judge", "sees_blond_on_fakes": sees_blond(Judge.load(args.judge).net)}))
    print(json.dumps({"classifier": "the model's own D head",
                      "sees_blond_on_fakes": sees_blond(translator.discriminator.classify)}), flush=True)
    images, answers = torch.from_numpy(train_x), torch.from_numpy(train_y)
    for head in args.heads:
        for seed in args.seeds:
            torch.manual_seed(seed)
            augment_rng = torch.Generator().manual_seed(seed)
            net = classifier(config, head)
            opt = torch.optim.Adam(net.parameters(), lr=5e-4, betas=(0.5, 0.999))  # D's lr and betas
            began = time.perf_counter()
            for _ in range(args.steps):
                pick = torch.randint(0, len(images), (64,))
                x = diff_augment(to_tensor(images[pick].numpy()), args.augment, augment_rng)  # [64, 3, H, W]
                loss = F.binary_cross_entropy_with_logits(net(x), answers[pick])
                opt.zero_grad()
                loss.backward()
                opt.step()
            net.eval()
            right = ((logits_of(net, test_x) > 0).float() == test_y).float().mean(0)  # [N]
            seconds = round(time.perf_counter() - began)
            print(json.dumps({"classifier": f"fresh {head}", "seed": seed, "augment": args.augment,
                              "seconds": seconds,
                              "real_accuracy_blond": round(right[blond].item(), 3),
                              "real_accuracy_mean": round(right.mean().item(), 3),
                              "sees_blond_on_fakes": sees_blond(net)}), flush=True)


if __name__ == "__main__":
    main()
