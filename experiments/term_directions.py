"""Which training terms move the reference path toward the true counterfactual, and toward the reference's style?

A first-order probe of one training state (issue 26). For unseen sources, each given a reference wearing the
attribute, SynthFaces renders the truth in that reference's style and in a rival reference's. Each generator-side
loss term of the state's recipe, alone at its weight, gives a gradient over E, M and G; Adam's step for it is that
gradient over the state's own second moments (the optimiser's preconditioner, held at this step), so the terms'
steps add up to the recipe's step but for the momentum. For each term, the change that step makes to the reference
path's output y (an exact forward-mode derivative), read inside the region where the truth differs from the source:

  - toward truth: the first-order fall of ||y - truth||^2 per step, over ||y - truth||^2 (per mille): > 0 closes
    the gap to the truth in the reference's style;
  - toward style: the step's movement along truth - rival (per mille of that axis' length squared): > 0 moves the
    drawing toward its reference's style and away from another's;
  - outside: the step's change outside the region over its whole change (where the term spends it).

The same for the label path against the nearest of the rendered styles (its truth is its own choice of style),
nearest by whole-image L1 (eval credits the style whose edit-region reduction is best, not always the same one).
`--remove` probes the removals instead (each source wears the attribute; the truth is the one face without it, the
same for every style, so there is no style to read).

    python experiments/term_directions.py RUN/state.pt [--n 16] [--remove] [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch
from torch.func import functional_call, jvp

from bridgegan_batch.config import LossWeights, RunConfig
from bridgegan_batch.eval.distances import changed_pixels
from bridgegan_batch.eval.ground_truth import make_truth_cases
from bridgegan_batch.model.checkpoint import load_state
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.train.loop import build_parts, restore_state
from bridgegan_batch.train.losses import Batch, BridgeGANLoss

ATTRIBUTES = ("Eyeglasses", "Smiling", "Blond_Hair", "Wearing_Hat", "Male")
SOURCE_SEED, REFERENCE_SEED = 979_797, 989_898  # streams no run, eval or other probe reads
D_TERMS = {"gradient_penalty", "r1", "attribute_real", "critic_drift", "attribute_fake_in_d"}  # D's phase alone
# Every other weight is a generator-side term; one added to LossWeights is probed without a change here.
G_TERMS = tuple(name for name in LossWeights.model_fields if name not in D_TERMS)


def batch_of(cases, noise_dim: int, seed: int) -> Batch:
    """A training batch of the cases: each source, its target labels and its reference; seeded noises."""
    gen = torch.Generator().manual_seed(seed)
    b = len(cases)
    return Batch(x=to_tensor(cases.source), labels=torch.as_tensor(cases.source_labels),
                 target=torch.as_tensor(cases.target_labels), x_ref=to_tensor(cases.reference),
                 r1=torch.randn(b, noise_dim, generator=gen), r2=torch.randn(b, noise_dim, generator=gen),
                 alpha=torch.rand(b, generator=gen), eps=torch.rand(3 * b, generator=gen), augment_seed=seed)


def adam_direction(grads, params, opt) -> list[torch.Tensor]:
    """Adam's step direction for `grads` alone, g / (sqrt(v_hat) + eps), under the optimiser's current second moments
    (bias-corrected, as torch's Adam). In a real step a new gradient enters the first moment with weight 1 - beta1
    (a half at the recipe's 0.5), so one real step moves about half as far: signs and ranks are what this reads."""
    directions = []
    for grad, param in zip(grads, params, strict=True):
        if grad is None:
            directions.append(torch.zeros_like(param))
            continue
        moments = opt.state.get(param, {})
        if "exp_avg_sq" not in moments:  # a new optimiser would make every reading 0
            raise SystemExit("the state's generator optimiser holds no second moments: probe a trained state")
        group = next(g for g in opt.param_groups if any(q is param for q in g["params"]))
        beta2, eps = group["betas"][1], group["eps"]
        v_hat = moments["exp_avg_sq"] / (1 - beta2 ** float(moments["step"]))
        directions.append(grad / (v_hat.sqrt() + eps))
    return directions


@torch.no_grad()
def outputs(loss: BridgeGANLoss, batch: Batch) -> torch.Tensor:
    """The batch's three translations. -> [3B, 3, H, W]: label, reference, interpolation"""
    return loss.fakes(batch)


class _Outputs(torch.nn.Module):
    """The three translations of one batch as a module of G's parameters: G is registered here so that
    torch.func.functional_call can swap its parameters (as "G.<name>") under the loss that draws them."""

    def __init__(self, loss: BridgeGANLoss, batch: Batch):
        super().__init__()
        self.G, self.loss, self.batch = loss.G, loss, batch

    def forward(self) -> torch.Tensor:
        return self.loss.fakes(self.batch)


def directional_change(loss, batch, params, direction) -> torch.Tensor:
    """d(outputs)/dt along -direction (a descent step of size t): an exact forward-mode derivative. [3B, 3, H, W]"""
    name_of = {id(p): "G." + name for name, p in loss.G.named_parameters()}
    keys = [name_of[id(p)] for p in params]  # in params' own order: zip pairs them with the tangents
    module = _Outputs(loss, batch)
    _, change = jvp(lambda *values: functional_call(module, dict(zip(keys, values, strict=True)), ()),
                    tuple(p.detach() for p in params), tuple(-d for d in direction))
    return change


def readings(change: torch.Tensor, y: torch.Tensor, x: torch.Tensor, truth: torch.Tensor,
             rival: torch.Tensor | None, lr: float) -> dict[str, float]:
    """What a step of `lr` along `change` does to outputs y, read in the region where the truth differs from the
    source x. change, y, x, truth, rival: [B, 3, H, W]"""
    region = changed_pixels(x, truth).float()  # [B, 1, H, W]
    gap = (truth - y) * region
    moved = lr * change  # [B, 3, H, W]: the outputs' first-order change over the step
    toward = 2 * (moved * gap).sum() / gap.pow(2).sum()  # the fall of ||y - truth||^2 over it
    inside, total = (moved * region).pow(2).sum(), moved.pow(2).sum()
    out = {"toward_truth_permille": 1000 * toward.item(),
           "outside_share": (1 - inside / total).item() if total > 0 else float("nan"),
           "step_rms": moved.pow(2).mean().sqrt().item()}
    if rival is not None:
        axis = (truth - rival) * region
        out["toward_style_permille"] = 1000 * ((moved * axis).sum() / axis.pow(2).sum()).item()
    return out


def term_changes(parts, train, batch: Batch, terms, references) -> dict[str, torch.Tensor]:
    """Per term (alone at its weight in `train.losses`), d(outputs)/dt along Adam's step for it, with the optimiser's
    second moments held. Terms that need a second reference per row get the next case's from `references` (uint8)."""
    weights = train.losses
    zero = {t: 0.0 for t in G_TERMS}
    params = [p for p in parts.generator.parameters() if p.requires_grad]
    base = BridgeGANLoss.for_training(parts.generator, parts.discriminator, train)
    changes = {}
    for term in terms:
        alone = weights.model_copy(update={**zero, term: getattr(weights, term)})
        loss = BridgeGANLoss(parts.generator, parts.discriminator, alone, train.paths, train.diff_augment,
                             train.adversarial)
        # every case's references wear the attribute, so the next case's is a second reference in another style
        term_batch = dataclasses.replace(batch, x_ref2=to_tensor(np.roll(references, 1, axis=0))) \
            if alone.needs_second_reference else batch
        total, _ = loss.generator_phase(term_batch)
        grads = torch.autograd.grad(total, params, allow_unused=True)
        changes[term] = directional_change(base, batch, params, adam_direction(grads, params, parts.opt_g))
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("state")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0, help="another draw of faces (and noises): 1, 2, ...")
    parser.add_argument("--remove", action="store_true", help="probe removing each attribute, not adding it")
    parser.add_argument("--json")
    args = parser.parse_args()
    value = 0 if args.remove else 1

    state = load_state(args.state)
    config = RunConfig.model_validate_json(state["config"])
    parts = build_parts(config, torch.device("cpu"))
    restore_state(parts, state)
    parts.generator.train()
    terms = [t for t in G_TERMS if getattr(config.train.losses, t) > 0]
    lr = config.train.lr
    base = BridgeGANLoss.for_training(parts.generator, parts.discriminator, config.train)
    result = {"state": args.state, "step": int(state["step"]), "n": args.n, "seed": args.seed, "terms": terms,
              "direction": "remove" if args.remove else "add", "attributes": {}}
    for k, name in enumerate(ATTRIBUTES):
        cases = make_truth_cases(name, value, config.model.attributes, n=args.n, seed=SOURCE_SEED + args.seed,
                                 reference_seed=REFERENCE_SEED + args.seed)
        batch = batch_of(cases, config.model.noise_dim, seed=1_000 * (1 + args.seed) + k)
        b = len(cases)
        y = outputs(base, batch)
        x = batch.x
        truth = to_tensor(cases.reference_truth)  # [B, 3, H, W]
        rival = None if args.remove else to_tensor(cases.rival_truth)  # a removal has one truth: no style axis
        styles = to_tensor(cases.style_truths.reshape(-1, *cases.style_truths.shape[2:])).view(
            b, -1, 3, x.shape[-2], x.shape[-1])  # [B, K, 3, H, W]
        nearest = styles[torch.arange(b), (styles - y[:b, None]).abs().flatten(2).mean(2).argmin(1)]  # [B, 3, H, W]
        rows = {}
        for term, change in term_changes(parts, config.train, batch, terms, cases.reference).items():
            rows[term] = {"reference": readings(change[b : 2 * b], y[b : 2 * b], x, truth, rival, lr),
                          "label": readings(change[:b], y[:b], x, nearest, None, lr)}
            style = rows[term]["reference"].get("toward_style_permille", float("nan"))
            print(f"{name:12s} {term:24s} ref toward truth {rows[term]['reference']['toward_truth_permille']:+8.3f}"
                  f" style {style:+8.3f}"
                  f" outside {rows[term]['reference']['outside_share']:.2f}"
                  f" | label toward truth {rows[term]['label']['toward_truth_permille']:+8.3f}", flush=True)
        result["attributes"][name] = rows
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
