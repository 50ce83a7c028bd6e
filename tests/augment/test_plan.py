from collections import Counter

import numpy as np
import pytest

from bridgegan_batch.augment.plan import Source, make_plan
from bridgegan_batch.augment.spec import JobSpec
from bridgegan_batch.errors import ConfigError


def _sources(n=2000, seed=0, glasses=0.065, male=0.417):
    rng = np.random.default_rng(seed)
    return [Source(shard=f"s{i // 500}.tar", key=f"k{i:05d}",
                   labels={"Eyeglasses": int(rng.random() < glasses), "Male": int(rng.random() < male)})
            for i in range(n)]


def _job(operations, balance=None, include_originals=True, seed=0):
    return JobSpec.model_validate({"name": "t", "seed": seed, "input": {"uri": "in"},
                                   "operations": operations, "balance": balance,
                                   "output": {"uri": "out", "include_originals": include_originals}})


GLASSES_OPS = [{"label": {"set": {"Eyeglasses": 1}, "where": {"Eyeglasses": 0}}},
               {"reference": {"set": {"Eyeglasses": 1}, "where": {"Eyeglasses": 0}}},
               {"interpolate": {"set": {"Eyeglasses": 1}, "where": {"Eyeglasses": 0}, "alphas": [0.5]}}]


def test_without_balance_every_admitted_source_is_translated():
    sources = _sources(300)
    plan = make_plan(_job([{"label": {"set": {"Eyeglasses": 1}, "where": {"Eyeglasses": 0}, "variants": 2}},
                           {"reference": {"set": {"Eyeglasses": 1}, "where": {"Male": 1}}}]), sources)
    plain = [s for s in sources if s.labels["Eyeglasses"] == 0]
    labels = [i for i in plan.items if i.kind == "label"]
    assert len(labels) == 2 * len(plain) and {i.variant for i in labels} == {0, 1}
    assert Counter(i.key for i in labels) == Counter({s.key: 2 for s in plain})
    assert all(i.target["Eyeglasses"] == 1 for i in plan.items)
    with_glasses = {s.key for s in sources if s.labels["Eyeglasses"] == 1}
    refs = [i for i in plan.items if i.kind == "reference"]
    assert len(refs) == sum(s.labels["Male"] for s in sources)
    assert all(i.reference[1] in with_glasses and i.reference[1] != i.key for i in refs)


def test_similar_references_match_the_source_on_everything_but_the_change():
    sources = _sources(600)
    by_key = {s.key: s for s in sources}
    op = {"set": {"Eyeglasses": 1}, "where": {"Eyeglasses": 0}, "per_source": 2}
    similar = make_plan(_job([{"reference": {**op, "choose": "similar"}}]), sources).items
    anyone = make_plan(_job([{"reference": {**op, "choose": "random"}}]), sources).items
    assert [i.key for i in similar] == [i.key for i in anyone]  # same sources; only the references differ

    def same_sex(items):
        return np.mean([by_key[i.reference[1]].labels["Male"] == by_key[i.key].labels["Male"] for i in items])

    # Both sexes wear glasses in the pool, so every reference can match the source's sex; random ones mostly do not.
    assert same_sex(similar) == 1.0 and same_sex(anyone) < 0.7
    assert len({i.reference for i in similar}) > 10  # still spread over the pool, not one favourite
    per_source = {}
    for item in similar:
        per_source.setdefault(item.key, set()).add(item.reference)
    assert {len(refs) for refs in per_source.values()} == {2}  # a source's two references differ
    assert all(by_key[i.reference[1]].labels["Eyeglasses"] == 1 for i in similar)


def test_the_plan_is_a_pure_function_of_the_seed():
    sources = _sources(500)
    a = make_plan(_job(GLASSES_OPS, {"fractions": {"Eyeglasses": 0.5}}), sources)
    b = make_plan(_job(GLASSES_OPS, {"fractions": {"Eyeglasses": 0.5}}), sources)
    c = make_plan(_job(GLASSES_OPS, {"fractions": {"Eyeglasses": 0.5}}, seed=1), sources)
    assert a.items == b.items and [i.key for i in a.items] != [i.key for i in c.items]


def test_balance_glasses_to_half_shared_evenly_by_the_operations():
    sources = _sources(2000)
    plan = make_plan(_job(GLASSES_OPS, {"fractions": {"Eyeglasses": 0.5}}), sources)
    out = plan.output_counts["Eyeglasses"]
    assert abs(out["1"] / (out["0"] + out["1"]) - 0.5) <= 0.02
    per_op = list(plan.counts_per_operation().values())
    assert len(per_op) == 3 and max(per_op) - min(per_op) <= 1
    assert len({(i.op, i.key, i.variant) for i in plan.items}) == len(plan.items)  # no duplicate work
    assert plan.to_json()["translations"] == len(plan.items)


def test_balance_equal_joint_cells():
    sources = _sources(2000)
    ops = [{"label": {"set": {"Eyeglasses": 1}}}, {"label": {"set": {"Male": 1}}},
           {"label": {"set": {"Eyeglasses": 1, "Male": 1}}}]
    plan = make_plan(_job(ops, {"equal_cells": ["Eyeglasses", "Male"]}), sources)
    cells = Counter((s.labels["Eyeglasses"], s.labels["Male"]) for s in sources)
    cells.update((i.target["Eyeglasses"], i.target["Male"]) for i in plan.items)
    total = sum(cells.values())
    assert all(abs(cells[c] / total - 0.25) <= 0.02 for c in [(0, 0), (0, 1), (1, 0), (1, 1)]), cells


def test_impossible_balance_and_empty_reference_pool_are_named_errors():
    sources = _sources(500)
    with pytest.raises(ConfigError, match="balance"):  # adding glasses cannot lower their share
        make_plan(_job(GLASSES_OPS, {"fractions": {"Eyeglasses": 0.01}}), sources)
    with pytest.raises(ConfigError, match="balance"):  # translations only: every output has glasses
        make_plan(_job(GLASSES_OPS[:1], {"fractions": {"Eyeglasses": 0.5}}, include_originals=False), sources)
    no_glasses = _sources(200, glasses=0.0)
    with pytest.raises(ConfigError, match=r"operations.1.reference.*reference pool"):
        make_plan(_job(GLASSES_OPS), no_glasses)
