"""Render SynthFaces into shards: one sample per (seed, index), its record in the metadata."""

from __future__ import annotations

from functools import partial

from tqdm import tqdm

from bridgegan_batch.config import SynthConfig
from bridgegan_batch.data.attributes import SYNTH_ATTRIBUTES
from bridgegan_batch.data.dataset_info import DatasetInfo
from bridgegan_batch.data.images import encode_image
from bridgegan_batch.data.parallel import ordered_map
from bridgegan_batch.data.sample import Sample
from bridgegan_batch.data.synthfaces import render, sample_record
from bridgegan_batch.data.writer import DatasetWriter


def synth_key(seed: int, index: int) -> str:
    return f"synth_s{seed}_{index:08d}"


def synth_sample(index: int, *, seed: int, size: int, config: SynthConfig, image_format: str = "png",
                 quality: int = 95) -> Sample:
    """Face `index` of stream `seed`, rendered and encoded, with its record as metadata."""
    record = sample_record(seed, index, config)
    image = encode_image(render(record, size), image_format, quality=quality)
    return Sample(key=synth_key(seed, index), image=image, attributes=dict(record.attributes),
                  meta={"source": "synthfaces", "synthfaces": record.to_dict()})


def write_synth_dataset(out: str, *, n: int, size: int = 64, format: str = "wds", seed: int = 0,
                        start: int = 0, config: SynthConfig | None = None, image_format: str = "png",
                        quality: int = 95, shard_size: int = 1000, workers: int = 1,
                        overwrite: bool = False, progress: bool = False) -> DatasetInfo:
    """Render faces `start .. start+n-1` of stream `seed` into a dataset at `out`."""
    config = config or SynthConfig()
    make = partial(synth_sample, seed=seed, size=size, config=config, image_format=image_format,
                   quality=quality)
    extra = {"generator": "synthfaces", "seed": seed, "start": start, "size": size,
             "config": config.model_dump(mode="json")}
    with DatasetWriter(out, format=format, attributes=SYNTH_ATTRIBUTES, shard_size=shard_size,
                       name=f"synthfaces-s{seed}", image_size=size, extra=extra,
                       overwrite=overwrite) as writer:
        samples = ordered_map(make, range(start, start + n), workers)
        writer.write_all(tqdm(samples, total=n, unit="img", disable=not progress, desc="synth"))
    return writer.info


