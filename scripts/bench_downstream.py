"""Does balanced augmentation help a classifier? The downstream benchmark of issue 5, section 3.

    python scripts/bench_downstream.py [--quick] [--model FILE] [--out docs/results] [--workdir DIR]

A small CNN glasses classifier is trained (3 seeds, one recipe; --quick: 2) on an imbalanced SynthFaces set
(Eyeglasses on 5 %), on it oversampled with flips and colour jitter, on it plus the output of the
real batch job (`bridgegan-batch run jobs/glasses_aug.yaml`), and on real balanced faces; it is
scored on a balanced held-out test set. Then again with some glasses frame shapes held out of
training. Writes downstream.json and downstream.md to --out and prints the Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from downstream import DEFAULT_JOB, Settings, markdown, run_downstream  # noqa: E402
from machine import describe, emit  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny settings (about a minute), same code path")
    parser.add_argument("--model", default=None, help="model export for the job [default: the bundled demo model]")
    parser.add_argument("--job", default=str(DEFAULT_JOB), help="the augmentation job [default: %(default)s]")
    parser.add_argument("--out", default="docs/results", help="directory for downstream.json and downstream.md; "
                                                              "'' writes nothing [default: %(default)s]")
    parser.add_argument("--workdir", default=None, help="keep the data and the job's output here (an empty or new "
                                                        "directory) [default: a temporary directory]")
    args = parser.parse_args(argv)

    settings = Settings.quick() if args.quick else Settings.full()
    machine = describe()
    print(f"machine: {machine}", flush=True)
    if args.workdir:
        result = run_downstream(settings, args.model, args.workdir, job_path=args.job)
    else:
        with tempfile.TemporaryDirectory(prefix="downstream-") as workdir:
            result = run_downstream(settings, args.model, Path(workdir) / "run", job_path=args.job)
    result["machine"] = machine
    result["mode"] = "quick" if args.quick else "full"
    text = markdown(result, machine)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "downstream.json").write_text(json.dumps(result, indent=2) + "\n")
        emit(text, str(out / "downstream.md"))
    else:
        emit(text, None)
    return result


if __name__ == "__main__":
    main()
