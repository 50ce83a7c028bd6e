"""Does D's attribute head recognise the real attribute? P(attribute) per export on 64 unseen faces without it,
64 faces wearing it, and those first faces' true counterfactuals with it (SynthFaces), for each goal attribute.

    python experiments/head_recognition.py EXPORT [EXPORT ...]     # exports that hold their discriminator
"""

import sys

import torch

from bridgegan_batch.eval.ground_truth import make_truth_cases
from bridgegan_batch.model.pixels import to_tensor
from bridgegan_batch.model.translator import Translator

torch.set_num_threads(2)
names = ["Eyeglasses", "Smiling", "Blond_Hair", "Wearing_Hat", "Male"]
t0 = Translator.load(sys.argv[1], device="cpu")
cases = {n: make_truth_cases(n, 1, t0.attributes, n=64, styles=1, seed=515_151, reference_seed=525_252) for n in names}
print("P(attribute): without / wearing it / the truth with it")
for path in sys.argv[1:]:
    t = Translator.load(path, device="cpu")
    row = []
    for n in names:
        c, k = cases[n], t.attributes.index(n)
        with torch.no_grad():
            p = [
                torch.sigmoid(t.discriminator.classify(to_tensor(a))[:, k]).mean().item()
                for a in (c.source, c.reference, c.reference_truth)
            ]
        row.append(f"{n[:6]} {p[0]:.2f}/{p[1]:.2f}/{p[2]:.2f}")
    print(path, " | ".join(row), flush=True)
