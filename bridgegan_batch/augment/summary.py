"""The text `run` prints: the plan before (also --dry-run's output) and the summary after."""

from __future__ import annotations

from bridgegan_batch.augment.layout import REJECTS
from bridgegan_batch.augment.manifest import InputShard
from bridgegan_batch.augment.plan import Plan
from bridgegan_batch.augment.run_context import RunResult


def plan_summary(plan: Plan, inputs: list[InputShard], model_path: str) -> str:
    lines = [f"model: {model_path}", f"input: {len(inputs)} shards, {plan.sources} labelled samples",
             f"output: {plan.originals} originals + {len(plan.items)} translations"]
    lines += [f"  operation {name}: {n}" for name, n in plan.counts_per_operation().items()]
    for name, counts in plan.output_counts.items():
        before, after = plan.input_counts.get(name, {}), counts
        pct = [100 * c.get("1", 0) / max(1, c.get("0", 0) + c.get("1", 0)) for c in (before, after)]
        lines.append(f"  {name}: {pct[0]:.1f} % -> {pct[1]:.1f} %")
    return "\n".join(lines)


def summary_lines(result: RunResult, job_path: str) -> list[str]:
    """The end-of-run summary the CLI prints."""
    written = sum(result.written.values())
    rate = written / result.seconds if result.seconds else 0.0
    translate = sum(n for op, n in result.written.items() if op != "original")
    lines = [f"output: {result.output}",
             f"shards: {result.shards_done} done, {result.shards_skipped} already done, "
             f"{len(result.shards_failed)} failed",
             f"written this run: {written} samples ({rate:.1f} img/s over {result.seconds:.1f} s); "
             f"{translate} translations in {result.process_seconds:.1f} s on the actors"]
    lines += [f"  {name}: {n}" for name, n in sorted(result.written.items())]
    lines.append(f"rejected input samples: {result.rejects} of {result.input_samples} "
                 f"({100 * result.error_rate:.2f} %), listed in {REJECTS}")
    for shard, error in result.shards_failed:
        lines.append(f"FAILED {shard}: {error}")
    if result.shards_failed:
        lines.append(f"rerun just the failed shards with: bridgegan-batch run {job_path} (finished ones are skipped)")
    for shard, reason in result.shards_damaged:
        lines.append(f"DAMAGED {shard}: {reason}")
    if result.shards_damaged:
        lines.append("damaged input shards were used as far as they could be read; replace them under new names "
                     "to process the rest")
    return lines
