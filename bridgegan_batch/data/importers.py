"""Import CelebA, CelebA-HQ or a labelled image folder into shard datasets.

Every image is centre-cropped to its largest square, then Lanczos-resized to `size`. For CelebA's
aligned 178x218 images that square is rows 20..197: the centred 178x178 crop StarGAN uses.
Annotation problems (missing file, wrong header, malformed row) raise DataError before anything
is written; an image that is missing or undecodable becomes a ReadFailure and the import goes on.
"""

from __future__ import annotations

import csv as csvlib
import os
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial

from tqdm import tqdm

from bridgegan_batch.data.attributes import CELEBA_ATTRIBUTES
from bridgegan_batch.data.dataset_info import DatasetInfo
from bridgegan_batch.data.images import IMAGE_FORMATS, ImageDecodeError, decode_rgb, encode_image
from bridgegan_batch.data.parallel import ordered_map
from bridgegan_batch.data.parquet_samples import RESERVED as PARQUET_RESERVED
from bridgegan_batch.data.sample import ReadFailure, Sample, sanitize_key
from bridgegan_batch.data.writer import DatasetWriter
from bridgegan_batch.errors import DataError

CELEBA_SPLITS = {"0": "train", "1": "val", "2": "test"}  # list_eval_partition.txt codes
SPLIT_ORDER = ("train", "val", "test", "all")
HQ_MAPPING_FILE = "CelebA-HQ-to-CelebA-mapping.txt"
LABEL_CONVENTIONS: dict[str, dict[str, int | None]] = {
    "01": {"1": 1, "0": 0, "true": 1, "false": 0, "": None},
    "pm1": {"1": 1, "-1": 0, "0": None, "": None},
}


@dataclass
class ImportReport:
    datasets: dict[str, DatasetInfo] = field(default_factory=dict)  # split name -> info
    # Images skipped, with the reason; `shard` is the image path, or `csv:line` for a bad label cell.
    failures: list[ReadFailure] = field(default_factory=list)

    def total(self) -> int:
        return sum(info.samples for info in self.datasets.values())


@dataclass
class _Entry:
    key: str
    path: str  # the source image
    attributes: dict[str, int]
    meta: dict


@dataclass(frozen=True)
class _Options:
    size: int
    format: str
    image_format: str
    quality: int
    shard_size: int
    workers: int
    limit: int | None
    overwrite: bool
    progress: bool

    def check(self) -> None:
        if self.size <= 0:
            raise DataError(f"size must be positive, got {self.size}")
        if self.image_format not in IMAGE_FORMATS:
            raise DataError(f"image format must be one of {IMAGE_FORMATS}, got {self.image_format!r}")
        if self.limit is not None and self.limit < 1:
            raise DataError(f"limit must be at least 1, got {self.limit}")


def import_celeba(root: str, out: str, *, size: int = 128, format: str = "wds", image_format: str = "png",
                  quality: int = 95, shard_size: int = 1000, workers: int = 1, limit: int | None = None,
                  overwrite: bool = False, progress: bool = False) -> ImportReport:
    """CelebA (img_align_celeba + list_attr_celeba.txt + list_eval_partition.txt) into OUT/train|val|test."""
    opts = _Options(size, format, image_format, quality, shard_size, workers, limit, overwrite, progress)
    opts.check()
    _require_dir(root, "CelebA root")
    rows = _read_attr_file(os.path.join(root, "list_attr_celeba.txt"))
    partition_path = os.path.join(root, "list_eval_partition.txt")
    partition = _read_partition(partition_path)
    images = os.path.join(root, "img_align_celeba")
    _require_dir(images, "CelebA image folder")
    entries: list[tuple[str, str, dict[str, int], dict]] = []
    for file, labels in rows[:limit]:
        if file not in partition:
            raise DataError(f"{partition_path}: no split for {file}")
        meta = {"source": "celeba", "file": file, "split": partition[file]}
        entries.append((file, os.path.join(images, file), labels, meta))
    return _import(entries, {s: os.path.join(out, s) for s in CELEBA_SPLITS.values()},
                   CELEBA_ATTRIBUTES, "celeba", [], opts)


def import_celebahq(root: str, out: str, *, partition: str | None = None, size: int = 128,
                    format: str = "wds", image_format: str = "png", quality: int = 95,
                    shard_size: int = 1000, workers: int = 1, limit: int | None = None,
                    overwrite: bool = False, progress: bool = False) -> ImportReport:
    """CelebA-HQ in the CelebAMask-HQ layout into OUT/all, or OUT/train|val|test given CelebA's partition."""
    opts = _Options(size, format, image_format, quality, shard_size, workers, limit, overwrite, progress)
    opts.check()
    _require_dir(root, "CelebA-HQ root")
    rows = _read_attr_file(os.path.join(root, "CelebAMask-HQ-attribute-anno.txt"))
    images = os.path.join(root, "CelebA-HQ-img")
    _require_dir(images, "CelebA-HQ image folder")
    to_celeba: dict[str, str] = {}
    splits: dict[str, str] = {}
    mapping_path = os.path.join(root, HQ_MAPPING_FILE)
    if partition is not None:
        # An HQ image belongs to the split of the CelebA image it was made from.
        to_celeba = _read_hq_mapping(mapping_path)
        splits = _read_partition(partition)
    entries: list[tuple[str, str, dict[str, int], dict]] = []
    for file, labels in rows[:limit]:
        meta = {"source": "celebahq", "file": file, "split": "all"}
        if partition is not None:
            if file not in to_celeba:
                raise DataError(f"{mapping_path}: no CelebA file for {file}")
            original = to_celeba[file]
            if original not in splits:
                raise DataError(f"{partition}: no split for {original} (CelebA-HQ {file})")
            meta.update(celeba_file=original, split=splits[original])
        entries.append((file, os.path.join(images, file), labels, meta))
    names = CELEBA_SPLITS.values() if partition is not None else ("all",)
    return _import(entries, {s: os.path.join(out, s) for s in names}, CELEBA_ATTRIBUTES, "celebahq", [], opts)


def import_folder(images: str, csv: str, out: str, *, filename_column: str = "filename",
                  labels: str = "01", size: int = 128, format: str = "wds", image_format: str = "png",
                  quality: int = 95, shard_size: int = 1000, workers: int = 1, limit: int | None = None,
                  overwrite: bool = False, progress: bool = False) -> ImportReport:
    """Images under IMAGES labelled by a CSV (a file column, one column per attribute) into OUT."""
    opts = _Options(size, format, image_format, quality, shard_size, workers, limit, overwrite, progress)
    opts.check()
    if labels not in LABEL_CONVENTIONS:
        raise DataError(f"labels must be one of {tuple(LABEL_CONVENTIONS)}, got {labels!r}")
    convention = LABEL_CONVENTIONS[labels]
    _require_dir(images, "image folder")
    header, rows = _read_csv(csv)
    if filename_column not in header:
        raise DataError(f"{csv}: no column {filename_column!r} (columns: {header})")
    attributes = tuple(name for name in header if name != filename_column)
    for name in attributes:
        if not name or name in PARQUET_RESERVED:
            raise DataError(f"{csv}: column name {name!r} cannot be an attribute")
    entries: list[tuple[str, str, dict[str, int], dict]] = []
    failures: list[ReadFailure] = []
    seen: set[str] = set()
    for line, row in rows[:limit]:
        if len(row) != len(header):
            raise DataError(f"{csv}, line {line}: {len(row)} values, expected {len(header)}")
        cells = dict(zip(header, row, strict=True))
        file = cells.pop(filename_column).strip()
        if not file:
            raise DataError(f"{csv}, line {line}: empty {filename_column!r}")
        if file in seen:
            raise DataError(f"{csv}, line {line}: {file} is listed twice")
        seen.add(file)
        values, bad = {}, []
        for name, cell in cells.items():
            value = convention.get(cell.strip().lower(), "bad")
            if value == "bad":
                bad.append(f"column {name!r} has value {cell!r}")
            elif value is not None:
                values[name] = value
        if bad:
            allowed = sorted(set(convention) - {""})
            reason = "; ".join(bad) + f" (labels={labels!r} expects {allowed} or empty)"
            failures.append(ReadFailure(f"{csv}:{line}", sanitize_key(_stem(file)), reason))
            continue
        meta = {"source": "folder", "file": file, "split": "all"}
        entries.append((file, os.path.join(images, file), values, meta))
    return _import(entries, {"all": out}, attributes, "folder", failures, opts)


def _import(rows: Sequence[tuple[str, str, dict[str, int], dict]], outs: dict[str, str],
            attributes: Sequence[str], source: str, failures: list[ReadFailure],
            opts: _Options) -> ImportReport:
    """Give `rows` (file, path, labels, meta) unique keys and write each split to its directory."""
    keys = unique_keys(sanitize_key(_stem(file)) for file, *_ in rows)
    splits: dict[str, list[_Entry]] = {}
    for key, (_, path, labels, meta) in zip(keys, rows, strict=True):
        splits.setdefault(meta["split"], []).append(_Entry(key, path, labels, meta))
    report = ImportReport(failures=list(failures))
    with ExitStack() as stack:
        # Open every writer first, so an existing output is refused before any split is written.
        writers = {split: stack.enter_context(DatasetWriter(
            outs[split], format=opts.format, attributes=attributes, shard_size=opts.shard_size,
            name=f"{source}-{split}", image_size=opts.size, overwrite=opts.overwrite,
            extra={"importer": source, "split": split})) for split in SPLIT_ORDER if split in splits}
        for split, writer in writers.items():
            report.failures += _write_split(writer, splits[split], opts)
            report.datasets[split] = writer.close()
    return report


def _write_split(writer: DatasetWriter, entries: Sequence[_Entry], opts: _Options) -> list[ReadFailure]:
    """Load `entries` in parallel and write them in order; return the ones that failed."""
    load = partial(_load, size=opts.size, image_format=opts.image_format, quality=opts.quality)
    failures = []
    results = ordered_map(load, entries, opts.workers)
    for result in tqdm(results, total=len(entries), unit="img", desc=writer.name, disable=not opts.progress):
        if isinstance(result, ReadFailure):
            failures.append(result)
        else:
            writer.write(result)
    return failures


def _load(entry: _Entry, *, size: int, image_format: str, quality: int) -> Sample | ReadFailure:
    """Read, decode, crop+resize and re-encode one image (runs in a worker process)."""
    try:
        with open(entry.path, "rb") as f:
            data = f.read()
        pixels = decode_rgb(data, size)  # [size, size, 3] uint8
    except FileNotFoundError:
        return ReadFailure(entry.path, entry.key, "image file not found")
    except (OSError, ImageDecodeError) as exc:
        return ReadFailure(entry.path, entry.key, str(exc))
    image = encode_image(pixels, image_format, quality=quality)
    return Sample(key=entry.key, image=image, attributes=entry.attributes, meta=entry.meta)


def unique_keys(keys: Iterable[str]) -> list[str]:
    """`keys` made unique in order: a repeat of `k` becomes `k_1`, `k_2`, ... (first free one)."""
    seen: set[str] = set()
    out = []
    for key in keys:
        n, unique = 0, key
        while unique in seen:
            n += 1
            unique = f"{key[:200 - len(str(n)) - 1]}_{n}"
        seen.add(unique)
        out.append(unique)
    return out


def _stem(file: str) -> str:
    return os.path.splitext(os.path.basename(file))[0]


def _require_dir(path: str, what: str) -> None:
    if not os.path.isdir(path):
        raise DataError(f"{what} {path!r} does not exist or is not a directory")


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc


def _read_attr_file(path: str) -> list[tuple[str, dict[str, int]]]:
    """(file, labels 0/1) per row of a CelebA-style attribute file: count, names, rows of -1/1."""
    lines = _read_lines(path)
    if len(lines) < 2:
        raise DataError(f"{path}: expected a count line and a line of attribute names")
    names = tuple(lines[1].split())
    if names != CELEBA_ATTRIBUTES:
        raise DataError(f"{path}, line 2: attribute names {names} are not CelebA's 40 in order")
    rows: list[tuple[str, dict[str, int]]] = []
    seen: set[str] = set()
    for number, line in enumerate(lines[2:], start=3):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != len(names) + 1:
            raise DataError(f"{path}, line {number}: {len(tokens) - 1} values, expected {len(names)}")
        file, values = tokens[0], tokens[1:]
        if file in seen:
            raise DataError(f"{path}, line {number}: {file} is listed twice")
        seen.add(file)
        bad = [v for v in values if v not in ("1", "-1")]
        if bad:
            raise DataError(f"{path}, line {number}: value {bad[0]!r}, expected 1 or -1")
        rows.append((file, {name: int(v == "1") for name, v in zip(names, values, strict=True)}))
    if lines[0].strip() != str(len(rows)):
        # A truncated download shows up here rather than as a silently smaller dataset.
        raise DataError(f"{path}, line 1: declares {lines[0].strip()!r} images but lists {len(rows)}")
    return rows


def _read_partition(path: str) -> dict[str, str]:
    """file -> train|val|test from list_eval_partition.txt."""
    splits = {}
    for number, line in enumerate(_read_lines(path), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 2 or tokens[1] not in CELEBA_SPLITS:
            raise DataError(f"{path}, line {number}: expected '<file> 0|1|2', got {line.strip()!r}")
        splits[tokens[0]] = CELEBA_SPLITS[tokens[1]]
    return splits


def _read_hq_mapping(path: str) -> dict[str, str]:
    """CelebA-HQ file ('0.jpg') -> its CelebA file ('119614.jpg')."""
    lines = _read_lines(path)
    if not lines or lines[0].split() != ["idx", "orig_idx", "orig_file"]:
        raise DataError(f"{path}, line 1: expected the header 'idx orig_idx orig_file'")
    mapping = {}
    for number, line in enumerate(lines[1:], start=2):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 3 or not tokens[0].isdigit():
            raise DataError(f"{path}, line {number}: expected '<idx> <orig_idx> <orig_file>'")
        mapping[f"{int(tokens[0])}.jpg"] = tokens[2]
    return mapping


def _read_csv(path: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header (names stripped) and the (line number, cells) of each non-blank row."""
    try:
        # utf-8-sig: spreadsheets often save a byte-order mark that would stick to the first name.
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csvlib.reader(f)
            header = [name.strip() for name in next(reader, [])]
            rows = [(reader.line_num, row) for row in reader if row]
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, csvlib.Error) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    if not header:
        raise DataError(f"{path}: empty, expected a header line")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DataError(f"{path}: duplicate columns {duplicates}")
    return header, rows
