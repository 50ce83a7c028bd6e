"""Parquet files to samples: ours (`key`, `image`, int8 labels, `meta`) and the shapes users have them in.

A user's file may keep its image under another name, as raw bytes or as Hugging Face `datasets`' image
struct {bytes, path}; its keys in another column, or none (then keys are made from the file's name and the
row); its labels as 0/1, -1/1 (CelebA's) or booleans, integers or floats (pandas writes integer columns with
gaps as floats, NaN for missing). Other columns (an `image_id` string, a bounding box) are left alone.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bridgegan_batch.data.paths import filesystem
from bridgegan_batch.data.sample import BadSample, Sample, ShardError, check_key, labels_of, sanitize_key

RESERVED = ("key", "image", "meta")  # our own layout's columns; every other number column is a label
BATCH_ROWS = 256


@dataclass(frozen=True)
class ParquetColumns:
    """Where a file keeps its parts. None: our own names (`image`; `key`, else keys made from the row)."""

    image: str | None = None
    key: str | None = None


def _is_image(typ: pa.DataType) -> bool:
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        return True
    return pa.types.is_struct(typ) and typ.get_field_index("bytes") >= 0 and _is_image(typ.field("bytes").type)


def _is_label(typ: pa.DataType) -> bool:
    return pa.types.is_integer(typ) or pa.types.is_boolean(typ) or pa.types.is_floating(typ)


@dataclass(frozen=True)
class _Layout:
    image: str
    key: str | None  # None: made from the file's name and the row
    labels: tuple[str, ...]


def _layout(schema: pa.Schema, columns: ParquetColumns) -> _Layout:
    """The file's image, key and label columns, or ShardError naming what is missing or mistyped."""
    names = schema.names
    image = columns.image or "image"
    if image not in names:
        found = [n for n in names if _is_image(schema.field(n).type)]
        hint = f"; image columns found: {found}, name one with input.image_column" if found else ""
        raise ShardError(f"no {image!r} column (columns: {names}){hint}")
    if not _is_image(schema.field(image).type):
        raise ShardError(f"column {image!r} has type {schema.field(image).type}, expected binary image bytes "
                         "or a {bytes, path} struct (Hugging Face datasets' Image)")
    key = columns.key or ("key" if "key" in names else None)
    if key is not None:
        if key not in names:
            raise ShardError(f"no key column {key!r} (columns: {names})")
        typ = schema.field(key).type
        if not (pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_integer(typ)):
            raise ShardError(f"key column {key!r} has type {typ}, expected strings or integers")
    if "meta" in names and not pa.types.is_string(schema.field("meta").type):
        raise ShardError(f"column 'meta' has type {schema.field('meta').type}, expected a JSON string")
    ours = {image, key, "meta", *RESERVED}
    labels = tuple(n for n in names if n not in ours and _is_label(schema.field(n).type))
    return _Layout(image, key, labels)


def label_encoding(pf: pq.ParquetFile, layout: _Layout, encoding: str) -> str:
    """The file's label encoding. "auto" is ours ("0/1", -1 missing), except that label columns which
    hold -1 and 1 and never 0 are ambiguous (CelebA's -1/1, or ours with every known label 1): refused."""
    if encoding != "auto" or not layout.labels:
        return "0/1" if encoding == "auto" else encoding
    table = pf.read(columns=list(layout.labels))
    values: set[float] = set()
    for column in table.columns:
        if not pa.types.is_boolean(column.type):
            values.update(v for v in pc.unique(column).to_pylist() if v is not None)
    if -1 in values and 0 not in values:
        raise ShardError(f"label columns {list(layout.labels)[:4]}{'...' if len(layout.labels) > 4 else ''} hold "
                         "-1 and never 0: set input.label_encoding to '-1/1' if -1 means 'no' (CelebA's "
                         "encoding), or to '0/1' if -1 means 'unlabelled'")
    return "0/1"


def iter_parquet(shard: str, columns: ParquetColumns = ParquetColumns(), encoding: str = "auto"
                 ) -> Iterator[tuple[str | None, Sample | BadSample]]:
    """(key, sample or the reason it is bad) for every row; ShardError if the file cannot be read."""
    fs, path = filesystem(shard)
    stem = sanitize_key(posixpath.basename(path).removesuffix(".parquet"))
    try:
        with fs.open(path, "rb") as f:
            pf = pq.ParquetFile(f)
            layout = _layout(pf.schema_arrow, columns)
            encoding = label_encoding(pf, layout, encoding)
            wanted = [layout.image, *([layout.key] if layout.key else []), *layout.labels,
                      *(["meta"] if "meta" in pf.schema_arrow.names else [])]
            seen: set[str] = set()
            row = 0
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
                values = {name: batch.column(name).to_pylist() for name in batch.schema.names}
                for i in range(batch.num_rows):
                    key, sample = _row(shard, layout, columns, values, i, stem, row, encoding)
                    row += 1
                    if isinstance(sample, Sample):
                        if sample.key in seen:  # keys name output files and seed the noise: each one once
                            yield key, BadSample("duplicate key: an earlier row has it; this row was dropped")
                            continue
                        seen.add(sample.key)
                    yield key, sample
    except (pa.ArrowException, OSError) as exc:
        raise ShardError(f"parquet unreadable: {exc}") from exc


def _row(shard: str, layout: _Layout, columns: ParquetColumns, values: dict[str, list], i: int, stem: str,
         row: int, encoding: str) -> tuple[str, Sample | BadSample]:
    """(the row's key as reported, its sample or why it is bad); row i of the batch, `row` of the file."""
    raw_key = values[layout.key][i] if layout.key else f"{stem}-{row:06d}"
    try:
        if raw_key is None:
            raw_key = f"row {row}"  # a failure without a key would read as the whole shard's
            raise BadSample(f"key column {layout.key!r} is null")
        # A column the user named holds their ids (CelebA's '000001.jpg'): made safe as file names.
        key = sanitize_key(str(raw_key)) if columns.key else check_key(raw_key)
        image = values[layout.image][i]
        if isinstance(image, dict):  # datasets' Image: {bytes, path}
            if image.get("bytes") is None:
                where = f" ({image['path']!r})" if image.get("path") else ""
                raise BadSample(f"image{where} is stored by path, not as bytes: embed the images in the file "
                                "(datasets: Dataset.cast_column('image', Image()) before to_parquet)")
            image = image["bytes"]
        if image is None:
            raise BadSample("image is null")
        meta = {}
        if "meta" in values and values["meta"][i]:
            meta = json.loads(values["meta"][i])
            if not isinstance(meta, dict):
                raise BadSample("meta must hold a JSON object")
        attributes = labels_of({name: values[name][i] for name in layout.labels}, encoding)
        return key, Sample(key=key, image=image, attributes=attributes, meta=meta, shard=shard)
    except BadSample as exc:
        return str(raw_key), exc
    except (ValueError, json.JSONDecodeError) as exc:
        return str(raw_key), BadSample(str(exc))
