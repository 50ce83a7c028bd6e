"""The command line the per-model lab probes share: score each export, print as it goes, optionally write JSON."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable


def probe_models_main(doc: str, probe: Callable[[str, int], dict], default_n: int) -> None:
    """`SCRIPT MODEL [MODEL ...] [--n N] [--json OUT]`: {model path: probe(path, n)}, written to OUT if given."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--n", type=int, default=default_n)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    results = {path: probe(path, args.n) for path in args.models}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
