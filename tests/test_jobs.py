"""Every shipped job validates against the demo model and plans on the demo dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridgegan_batch.augment.plan import BALANCE_TOLERANCE, Source, make_plan
from bridgegan_batch.augment.spec import check_attribute_names, load_job
from bridgegan_batch.config import RunConfig, load_yaml
from bridgegan_batch.data.synth_dataset import synth_key
from bridgegan_batch.data.synthfaces import sample_record

ROOT = Path(__file__).resolve().parents[1]
JOBS = sorted((ROOT / "jobs").glob("*.yaml"))
DEMO_ATTRIBUTES = load_yaml(ROOT / "configs" / "synth64.yaml", RunConfig).model.attributes
CELEBA_ATTRIBUTES = load_yaml(ROOT / "configs" / "celeba128.yaml", RunConfig).model.attributes


def test_the_three_example_jobs_ship():
    assert {p.name for p in JOBS} >= {"glasses_aug.yaml", "hair_blond.yaml", "glasses_x_male.yaml"}


@pytest.mark.parametrize("path", JOBS, ids=lambda p: p.name)
def test_shipped_job_validates_and_its_balance_is_reachable(path):
    job = load_job(path)
    check_attribute_names(job, DEMO_ATTRIBUTES)
    check_attribute_names(job, CELEBA_ATTRIBUTES)  # a model trained on real faces by the shipped recipe runs it too
    synth = job.input.synth
    assert synth is not None, "shipped jobs run on the demo dataset, rendered on first use"
    # The demo dataset's labels, straight from the records (what the label pass will read).
    sources = [Source(f"shard-{i // synth.shard_size:06d}.tar", synth_key(synth.seed, i),
                      sample_record(synth.seed, i).attributes) for i in range(synth.samples)]
    plan = make_plan(job, sources)
    assert plan.items
    total = plan.originals + len(plan.items)
    for name, fraction in (job.balance.fractions if job.balance else {}).items():
        assert abs(plan.output_counts[name]["1"] / total - fraction) <= BALANCE_TOLERANCE
