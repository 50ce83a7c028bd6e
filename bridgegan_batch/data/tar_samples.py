"""WebDataset tars to samples, in one streaming pass: `{key}.png|.jpg` plus `{key}.json` = {"attributes": ...}.

Ours, not webdataset's tar_file_iterator: a damaged shard must be reported, not skipped. tarfile stops
quietly at a garbled header, and only the archive's end offset (which that iterator does not expose) tells
a whole tar from a cut one; it also opens compressed streams, which a shard must not be. Member names split
as webdataset's base_plus_ext splits them, without importing webdataset (1.6 s, torch included) into the
readers' processes.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator

from bridgegan_batch.data.paths import filesystem
from bridgegan_batch.data.sample import BadSample, Sample, ShardError, check_key, labels_of

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg")


def _wds_sample(shard: str, key: str, parts: dict[str, bytes], encoding: str) -> Sample:
    try:
        check_key(key)
    except ValueError as exc:
        raise BadSample(str(exc)) from exc
    images = [ext for ext in IMAGE_EXTENSIONS if ext in parts]
    if not images:
        raise BadSample(f"no image member (.png/.jpg) among {sorted(parts)}")
    if len(images) > 1:
        raise BadSample(f"several image members {images}")
    meta: dict = {}
    if "json" in parts:
        try:
            meta = json.loads(parts["json"])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadSample(f"{key}.json is not valid JSON: {exc}") from exc
        if not isinstance(meta, dict):
            raise BadSample(f"{key}.json must hold an object")
    attributes = labels_of(meta.pop("attributes", {}), encoding)
    return Sample(key=key, image=parts[images[0]], attributes=attributes, meta=meta, shard=shard)


def _split_member(name: str) -> tuple[str, str] | None:
    """(key, extension) of a tar member name; the key ends at the first dot of the basename."""
    name = name.removeprefix("./")  # `tar -cf x.tar -C dir .` writes ./key.png
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    if dot <= slash + 1:
        return None
    return name[:dot], name[dot + 1 :].lower()


def iter_tar(shard: str, encoding: str = "0/1") -> Iterator[tuple[str | None, Sample | BadSample]]:
    """Group a tar's members into samples, in one streaming pass.

    Members of one sample must be contiguous: members of a key that reappear after another key
    are rejected with a failure (the key's first group has already been yielded by then).
    """
    fs, path = filesystem(shard)
    seen: set[str] = set()
    rejected: set[str] = set()
    key: str | None = None
    parts: dict[str, bytes] = {}

    def flush():
        if key is None:
            return None
        try:
            return key, _wds_sample(shard, key, parts, encoding)
        except BadSample as exc:
            return key, exc

    try:
        # "r|": plain tars only. A compressed tar fails here with a clear error, instead of its
        # decompressed offsets being checked against the compressed file below.
        with fs.open(path, "rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                split = _split_member(member.name)
                if split is None:
                    yield member.name, BadSample(f"member {member.name!r} has no key.extension name")
                    continue
                member_key, ext = split
                if member_key in rejected:
                    continue  # later members of a key already reported
                if member_key != key:
                    done = flush()
                    if done is not None:
                        yield done
                    if member_key in seen:
                        key, parts = None, {}
                        rejected.add(member_key)
                        yield member_key, BadSample(
                            "duplicate key, or its members are not contiguous in the tar; "
                            "its later members were dropped")
                        continue
                    seen.add(member_key)
                    key, parts = member_key, {}
                if key is None:
                    continue  # the rest of a rejected duplicate
                if ext in parts:  # e.g. a.png twice in a row: which one is the sample?
                    key, parts = None, {}
                    rejected.add(member_key)
                    yield member_key, BadSample(f"member {member.name!r} appears twice; the key was dropped")
                    continue
                extracted = tar.extractfile(member)
                parts[ext] = extracted.read() if extracted is not None else b""
            end = tar.offset
        # tarfile stops quietly at a truncated or garbled header: a whole tar has its
        # end-of-archive marker (1024 zero bytes) right after the last member.
        with fs.open(path, "rb") as f:
            f.seek(end)
            complete = f.read(1024) == bytes(1024)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ShardError(f"tar unreadable after {len(seen)} keys: {exc}") from exc
    if not complete:
        raise ShardError(f"tar truncated or corrupt at byte {end}, after {len(seen)} keys")
    done = flush()
    if done is not None:
        yield done
