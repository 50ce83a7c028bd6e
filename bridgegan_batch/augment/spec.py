"""The job spec: what `bridgegan-batch run JOB.yaml` does, as a frozen, strictly validated schema.

Unknown keys, wrong types and impossible values are errors naming the field. Checks that need
the model (attribute names) or the data (a feasible balance) happen when the plan is made.
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bridgegan_batch.config import EditMode, StrictModel, apply_overrides, read_yaml, validate
from bridgegan_batch.data.attributes import check_changes
from bridgegan_batch.errors import ConfigError
from bridgegan_batch.model.d_scale import DScale, parse_d_scale

Labels = dict[str, Literal[0, 1]]


class SynthInput(StrictModel):
    """Demo input: SynthFaces rendered into input.uri (a directory) on first use."""

    samples: int = Field(2000, gt=0)
    seed: int = 0
    size: Literal[64, 128] = 64
    shard_size: int = Field(500, gt=0)


# Query parameters that carry secrets in object-store and HTTP URLs (presigned URLs, SAS tokens).
_SECRET_PARAMS = re.compile(r"(x-(amz|goog)-)?(security-?token|(access_?|id_?|auth_?)?token|secret|password|passwd|"
                            r"pwd|sig|signature|credential|(api_?|access_?|account_?)?key|auth|authorization)",
                            re.IGNORECASE)


def redact_uri(uri: str) -> str:
    """`uri` with any user:password@ and secret-looking query values replaced by ***."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    path, qmark, query = path.partition("?")
    if qmark:
        query = "&".join(f"{k}=***" if _SECRET_PARAMS.fullmatch(k) else f"{k}{eq}{v}"
                         for k, eq, v in (p.partition("=") for p in query.split("&")))
    return f"{scheme}{sep}{authority}{slash}{path}{qmark}{query}"


def _no_credentials(field: str, uri: str) -> str:
    """Credentials in a URI would reach the manifest, every sample's provenance and the logs:
    refuse them, and name the URI only in redacted form."""
    if redact_uri(uri) != uri:
        raise ValueError(f"{field} {redact_uri(uri)!r} carries credentials (user:password@ or a token in the "
                         "query); give them to the filesystem instead (environment variables, ~/.aws, "
                         "GOOGLE_APPLICATION_CREDENTIALS, fsspec config), never in the job")
    return uri


class InputSpec(StrictModel):
    uri: tuple[str, ...]  # shard patterns: files, directories, globs, {000..009} braces, s3:// ...
    format: Literal["auto", "wds", "parquet"] = "auto"
    # The data's attribute names -> the model's, e.g. {glasses: Eyeglasses}.
    attribute_map: dict[str, str] = Field(default_factory=dict)
    labels: Literal["given", "predict"] = "given"  # predict: the model's attribute head labels the sources
    # How given labels are written: 0/1 (ours; -1 or null missing), -1/1 (CelebA's; null missing), or auto:
    # 0/1, except that a Parquet file whose label columns hold -1 and never 0 is refused as ambiguous.
    label_encoding: Literal["auto", "0/1", "-1/1"] = "auto"
    # Parquet: the image column (bytes, or datasets' {bytes, path}); None = "image".
    image_column: str | None = None
    # Parquet: the column of unique ids (strings or integers, made safe as file names); None = "key" if
    # present, else keys are made from the file's name and the row number.
    key_column: str | None = None
    # Render the demo dataset into uri when it holds no shards yet. It belongs to the job file's own uri: a uri
    # given with --set (your data) drops it, so a user's path never triggers rendering.
    synth: SynthInput | None = None

    @field_validator("uri", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return (value,) if isinstance(value, str) else value

    @field_validator("uri")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or not all(value):
            raise ValueError("give at least one non-empty shard pattern")
        for pattern in value:
            _no_credentials("pattern", pattern)
        return value


class ModelSpec(StrictModel):
    path: str | None = None  # an export (.safetensors); None = the bundled demo model
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # None: the model's own (recorded in its export), else the authors' 1.5; a number for every change,
    # or {default: 1.5, add: {Eyeglasses: 1.25}, remove: {...}} per attribute and direction
    d_scale: float | DScale | None = None
    # direct: G's output, as published; residual: only the change G makes, on the source's pixels
    edit: EditMode = "direct"
    batch_size: int = Field(64, gt=0)

    @field_validator("d_scale", mode="before")
    @classmethod
    def _scale(cls, value):
        return None if value is None else parse_d_scale(value)


class _Operation(StrictModel):
    set: Labels  # the attributes to set, e.g. {Eyeglasses: 1}
    where: Labels = Field(default_factory=dict)  # which sources, e.g. {Eyeglasses: 0}; {} = all

    @field_validator("set")
    @classmethod
    def _consistent(cls, value: Labels) -> Labels:
        if not value:
            raise ValueError("set at least one attribute")
        check_changes(value)
        return value


class LabelOp(_Operation):
    variants: int = Field(1, gt=0)  # outputs per source, each with its own noise seed


class _ReferenceChoice(_Operation):
    pool: Literal["input"] = "input"  # where references come from: the job's input faces
    # random: any face with the target attributes; similar: among those, the ones whose labels are
    # nearest the source's target labels (a reference that differs only in what is asked carries
    # nothing else over).
    choose: Literal["random", "similar", "keys"] = "random"
    keys: tuple[str, ...] = ()  # with choose: keys
    per_source: int = Field(1, gt=0)  # references per source
    # Random references are drawn from a seeded subset of this many matching faces, so the
    # driver ships a bounded set of reference images to the actors however large the pool.
    pool_size: int = Field(256, gt=0)

    @model_validator(mode="after")
    def _keys_when_chosen(self):
        if self.choose == "keys" and not self.keys:
            raise ValueError("choose: keys needs a non-empty keys list")
        if self.choose != "keys" and self.keys:
            raise ValueError("keys are only used with choose: keys")
        return self


class ReferenceOp(_ReferenceChoice):
    pass


class InterpolateOp(_ReferenceChoice):
    alphas: tuple[float, ...] = (0.5,)  # 1 = the label-driven code, 0 = the reference-driven one

    @field_validator("alphas")
    @classmethod
    def _unit_interval(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not 0.0 <= a <= 1.0 for a in value):
            raise ValueError(f"alphas must be a non-empty list of numbers in [0, 1], got {list(value)}")
        return value


class Operation(StrictModel):
    """Exactly one of label, reference or interpolate."""

    label: LabelOp | None = None
    reference: ReferenceOp | None = None
    interpolate: InterpolateOp | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [k for k in ("label", "reference", "interpolate") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"each operation is exactly one of label, reference, interpolate; got {given or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("label", "reference", "interpolate") if getattr(self, k) is not None)

    @property
    def spec(self) -> LabelOp | ReferenceOp | InterpolateOp:
        return getattr(self, self.kind)


class BalanceSpec(StrictModel):
    """The output's target distribution: marginal fractions, or equal joint cells."""

    fractions: dict[str, float] = Field(default_factory=dict)  # e.g. {Eyeglasses: 0.5}
    equal_cells: tuple[str, ...] = ()  # e.g. [Eyeglasses, Male]: the 4 joint cells equally large

    @model_validator(mode="after")
    def _one_kind(self):
        if bool(self.fractions) == bool(self.equal_cells):
            raise ValueError("give either fractions or equal_cells")
        for name, p in self.fractions.items():
            if not 0.0 < p < 1.0:
                raise ValueError(f"fractions.{name}: must be strictly between 0 and 1, got {p}")
        if len(set(self.equal_cells)) != len(self.equal_cells):
            raise ValueError("equal_cells lists an attribute twice")
        return self


class ImageSpec(StrictModel):
    format: Literal["png", "jpg"] = "png"
    quality: int = Field(95, ge=1, le=100)  # jpg
    compress_level: int = Field(6, ge=0, le=9)  # png: 1 is ~3x faster to encode, 18 % larger


class OutputSpec(StrictModel):
    uri: str = Field(min_length=1)
    format: Literal["wds", "parquet"] = "wds"
    image: ImageSpec = ImageSpec()
    shard_size: int = Field(1000, gt=0)
    include_originals: bool = False
    max_error_rate: float = Field(0.01, ge=0, le=1)  # exit non-zero above this fraction of failed samples

    @field_validator("uri")
    @classmethod
    def _no_secrets(cls, value: str) -> str:
        return _no_credentials("output", value)


class ResourcesSpec(StrictModel):
    address: str = ""  # "" = an embedded local Ray; "auto" or an address joins a cluster
    actors: int | None = Field(None, gt=0)  # None: one per GPU, or what fits the local CPUs
    gpus_per_actor: float = Field(0, ge=0)
    cpus_per_actor: float = Field(0.5, gt=0)  # fractional: actors holding every CPU stall Ray Data
    batch_size: int | None = Field(None, gt=0)  # overrides model.batch_size


class JobSpec(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,100}$")
    seed: int = 0
    input: InputSpec
    model: ModelSpec = ModelSpec()
    operations: tuple[Operation, ...] = Field(min_length=1)
    balance: BalanceSpec | None = None
    output: OutputSpec
    resources: ResourcesSpec = ResourcesSpec()

    @model_validator(mode="after")
    def _cuda_needs_gpus(self):
        if self.model.device == "cuda" and self.resources.gpus_per_actor == 0:
            raise ValueError("model.device: cuda needs resources.gpus_per_actor > 0 (Ray gives actors GPUs only "
                             "when they ask for them)")
        return self

    @model_validator(mode="after")
    def _synth_needs_one_directory(self):
        uri = self.input.uri
        if self.input.synth is not None and (len(uri) != 1 or any(c in uri[0] for c in "*?[{")
                                             or Path(uri[0]).suffix in (".tar", ".parquet")):
            raise ValueError("input.synth renders the demo into one directory: give input.uri as a single directory "
                             f"path, not {list(uri)} (or drop input.synth to read your own shards)")
        return self

    @model_validator(mode="after")
    def _output_and_input_apart(self):
        if "://" in self.output.uri:
            return self
        out = Path(self.output.uri).resolve()
        for pattern in self.input.uri:
            if "://" not in pattern and (problem := _overlap(out, pattern)):
                raise ValueError(problem.replace("OUT", f"output.uri {self.output.uri!r}"))
        return self


def _overlap(out: Path, pattern: str) -> str | None:
    """How the input `pattern` and the output directory `out` overlap (OUT stands for the output), or None.
    Checked against what the pattern names on disk now: a file beside the output is no overlap."""
    from bridgegan_batch.data.paths import expand_braces

    for expanded in expand_braces(pattern):
        if any(c in expanded for c in "*?["):
            absolute = str(Path(expanded).absolute())
            # Rerun, a glob that matches the output's own shards would read them as input.
            if any(_glob_matches(out / f"shard-000000{suffix}", absolute) for suffix in (".tar", ".parquet")):
                return f"input.uri {pattern!r} would match OUT's own shards"
            matches = [Path(m) for m in glob.glob(expanded)]
        else:
            path = Path(expanded)
            # Not there yet (the demo input, rendered on first use) and no suffix: a directory to be.
            matches = [path] if path.exists() or path.suffix else [path / ""]
        for match in matches:
            resolved = match.resolve()
            if resolved == out or out in resolved.parents:
                # --force clears the output directory: an input inside it would be deleted with it.
                return f"the input {str(match)!r} (from input.uri {pattern!r}) lies inside OUT; --force would delete it"
            if (match.is_dir() or not match.exists()) and resolved in out.parents:
                return (f"OUT lies inside the input directory {str(match)!r} (from input.uri {pattern!r}): its "
                        "shards would be read as input on the next run")
    return None


def _glob_matches(path: Path, pattern: str) -> bool:
    """Whether glob.glob(pattern) would match `path`: `*` within one path component, `**` across any."""
    from fnmatch import fnmatchcase

    def match(parts: tuple[str, ...], pats: tuple[str, ...]) -> bool:
        if not pats:
            return not parts
        if pats[0] == "**":
            return any(match(parts[i:], pats[1:]) for i in range(len(parts) + 1))
        return bool(parts) and fnmatchcase(parts[0], pats[0]) and match(parts[1:], pats[1:])

    return match(path.parts, Path(pattern).parts)


# Fields that do not change a single output byte: a rerun may change them freely.
# (The model is fingerprinted by its file's sha256, not its path; batching does not change bytes.)
_NOT_FINGERPRINTED = {"resources": None, "input": {"uri"}, "output": {"uri", "max_error_rate"},
                      "model": {"path", "batch_size"}}


# Fields added after the first release, with the default that gives that release's output: left at
# it, a field is not fingerprinted, so an output made by an earlier version can still be continued.
_ADDED_LATER = {("model", "edit"): "direct", ("input", "label_encoding"): "auto", ("input", "image_column"): None,
                ("input", "key_column"): None}


def resolve_d_scale(job: JobSpec, recommended: float | DScale) -> JobSpec:
    """The job with `model.d_scale` set: its own, else the model's recommendation (a number or a DScale).
    Resolved once in the driver, so the fingerprint, the actors and every sample's provenance carry the
    scale used."""
    if job.model.d_scale is not None:
        return job
    return job.model_copy(update={"model": job.model.model_copy(update={"d_scale": recommended})})


def fingerprint(job: JobSpec) -> str:
    """sha256 of the job fields that decide the output's bytes (not its resources or input list)."""
    if job.model.d_scale is None:
        raise ValueError("fingerprint: resolve model.d_scale first (resolve_d_scale)")
    data = job.model_dump(mode="json", exclude={k: v if v else True for k, v in _NOT_FINGERPRINTED.items()})
    for (section, field), default in _ADDED_LATER.items():
        if data.get(section, {}).get(field) == default:
            del data[section][field]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def load_job(path: str | Path, overrides: tuple[str, ...] = ()) -> JobSpec:
    """Load, override (`key.path=value`, the value read as YAML: `--set output.format=parquet`,
    `--set input.uri=/data/faces-{000..009}.tar`) and validate a job file."""
    try:
        data = read_yaml(path)
    except OSError as exc:  # a directory, no permission
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a job is a mapping of fields (name, input, operations, output, ...)")
    keys = [item.partition("=")[0].strip() for item in overrides]
    if isinstance(data.get("input"), dict) and any(k.startswith("input.uri") for k in keys) \
            and not any(k.startswith("input.synth") for k in keys):
        data["input"].pop("synth", None)  # the demo render belongs to the file's own uri, not to the user's
    apply_overrides(data, overrides)
    return validate(JobSpec, data, str(path))


def check_attribute_names(job: JobSpec, attributes: tuple[str, ...]) -> None:
    """ConfigError naming the field if the job names an attribute the model does not know."""
    known = set(attributes)
    places: list[tuple[str, list[str]]] = [("input.attribute_map", list(job.input.attribute_map.values()))]
    for i, op in enumerate(job.operations):
        places += [(f"operations.{i}.{op.kind}.set", list(op.spec.set)),
                   (f"operations.{i}.{op.kind}.where", list(op.spec.where))]
    if isinstance(job.model.d_scale, DScale):
        places += [("model.d_scale", [*job.model.d_scale.add, *job.model.d_scale.remove])]
    if job.balance is not None:
        places += [("balance.fractions", list(job.balance.fractions)),
                   ("balance.equal_cells", list(job.balance.equal_cells))]
    for field, names in places:
        unknown = sorted(set(names) - known)
        if unknown:
            raise ConfigError(f"{field}: unknown attributes {unknown}; the model knows {list(attributes)}")
