"""Provenance as written in every output sample, and the reader that also takes older outputs' (version 1).

Version 2 gives every sample of a job the same fields, typed the same, originals included, so that a whole
output reads as one table (Hugging Face datasets, Ray Data, pandas). JSON has no typed null, so "none" is
a value of the field's own type:

    kind             original | label | reference | interpolate
    operation_index  the job's operation that made it; -1 for an original
    variant          the variant of that operation (its noise seed's index); 0 for an original
    source           {key, shard, sha256, labels}: the input face
    target           the labels the output was made to have (an original's own)
    d                the attribute difference used, per model attribute, d scale included (0.0 for an original)
    reference        {key, shard, sha256} of the reference face; "" in each for none
    alpha            the label path's weight in the code: 1 label, 0 reference, a interpolate (0 original)
    edit             direct | residual; "none" for an original
    noise_seed       the seed of the noise drawn (label, interpolate); -1 for none
    digital_source_type  IPTC's compositeWithTrainedAlgorithmicMedia for a translation; "" for an original
    model, job, run_id, tool_version   what made it
"""

from __future__ import annotations

PROVENANCE_VERSION = 2
NO_OPERATION = -1
NO_SEED = -1
NO_REFERENCE = {"key": "", "shard": "", "sha256": ""}
KIND_ALPHA = {"label": 1.0, "reference": 0.0, "original": 0.0}  # interpolate: its own alpha


def read_provenance(meta: dict) -> dict:
    """A sample's provenance in version 2's names, whichever version wrote it; {} if it has none."""
    prov = meta.get("provenance") if isinstance(meta, dict) else None
    if not isinstance(prov, dict):
        return {}
    if prov.get("version", 1) >= 2:
        return prov
    # Version 1: "op" held the kind, "operation" the index; null stood for none.
    upgraded = {key: value for key, value in prov.items() if key not in ("op", "operation", "seed")}
    kind = prov.get("op")
    alpha = prov.get("alpha")
    upgraded |= {
        "version": PROVENANCE_VERSION, "kind": kind,
        "operation_index": NO_OPERATION if prov.get("operation") is None else prov["operation"],
        "variant": prov.get("variant") or 0, "d": prov.get("d") or {},
        "reference": prov.get("reference") or dict(NO_REFERENCE),
        "alpha": KIND_ALPHA.get(kind, 0.0) if alpha is None else alpha, "edit": prov.get("edit") or "none",
        "noise_seed": NO_SEED if prov.get("seed") is None else prov["seed"],
        "digital_source_type": prov.get("digital_source_type") or ""}
    return upgraded
