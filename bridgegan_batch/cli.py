"""The `bridgegan-batch` command line: parse, validate, call one function, print the result."""

from __future__ import annotations

import json
import sys
from functools import wraps

import click

from bridgegan_batch import __version__
from bridgegan_batch.errors import UserError

SHARD_FORMATS = click.Choice(["wds", "parquet"])


def _user_errors(fn):
    """Show a UserError as one clear line and exit 2, without a traceback."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def _output_options(fn):
    """Options shared by every command that writes a dataset."""
    options = [
        click.option("--format", "format_", type=SHARD_FORMATS, default="wds", show_default=True,
                     help="Shard format."),
        click.option("--image", "image_format", type=click.Choice(["png", "jpg"]), default="png",
                     show_default=True, help="Image encoding inside the shards."),
        click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
                     help="JPEG quality (with --image jpg)."),
        click.option("--shard-size", type=click.IntRange(min=1), default=1000, show_default=True,
                     help="Samples per shard."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Processes for rendering/decoding/encoding [default: all cores]."),
        click.option("--overwrite", is_flag=True, help="Replace a dataset already in OUT."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _workers(workers: int | None) -> int:
    from bridgegan_batch.data.parallel import default_workers

    return workers or default_workers()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="bridgegan-batch")
def main() -> None:
    """Attribute-balanced face dataset augmentation with BridgeGAN, as batch jobs on Ray."""


def _parse_priors(values: tuple[str, ...]) -> dict[str, float]:
    priors = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            priors[name] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"expected NAME=PROBABILITY, got {item!r}", param_hint="--prior")
    return priors


@main.command(short_help="Render SynthFaces, labelled faces with known counterfactuals.")
@click.argument("out")
@click.option("--n", type=click.IntRange(min=1), required=True, help="Number of faces.")
@click.option("--size", type=click.Choice(["64", "128"]), default="64", show_default=True,
              help="Image side in pixels.")
@click.option("--seed", type=int, default=0, show_default=True, help="Stream seed: face i is (seed, i).")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True,
              help="First face index (held-out sets: another seed or a later start).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="SynthFaces config YAML (priors, glasses_shapes), e.g. configs/synthfaces_glasses50.yaml.")
@click.option("--prior", "priors", multiple=True, metavar="NAME=P",
              help="Override an attribute's frequency, e.g. --prior Eyeglasses=0.5 (repeatable).")
@click.option("--glasses-shapes", default=None, metavar="A,B",
              help="Restrict the glasses frame shapes (round, oval, rect, aviator, cateye).")
@_output_options
@_user_errors
def synth(out, n, size, seed, start, config_path, priors, glasses_shapes, format_, image_format, quality,
          shard_size, workers, overwrite):
    """Render SynthFaces (labelled faces with known counterfactuals) into shards."""
    from bridgegan_batch.config import SynthConfig, load_yaml, validate
    from bridgegan_batch.data.synth_dataset import write_synth_dataset

    base = load_yaml(config_path, SynthConfig) if config_path else SynthConfig()
    overrides = {"priors": {**base.priors, **_parse_priors(priors)}}
    if glasses_shapes:
        overrides["glasses_shapes"] = tuple(glasses_shapes.split(","))
    config = validate(SynthConfig, {**base.model_dump(), **overrides}, "command-line options")
    info = write_synth_dataset(out, n=n, size=int(size), format=format_, seed=seed, start=start,
                               config=config, image_format=image_format, quality=quality,
                               shard_size=shard_size, workers=_workers(workers), overwrite=overwrite,
                               progress=True)
    click.echo(f"wrote {info.samples} faces in {len(info.shards)} shards to {out}")


@main.group(name="import", short_help="Import CelebA, CelebA-HQ or a folder + CSV into shards.")
def import_() -> None:
    """Import a face dataset (CelebA, CelebA-HQ, a folder + CSV) into shards."""


def _import_options(fn):
    fn = _output_options(fn)
    fn = click.option("--limit", type=click.IntRange(min=1), default=None,
                      help="Only the first N images (a quick try).")(fn)
    return click.option("--size", type=click.IntRange(min=8), default=128, show_default=True,
                        help="Output side in pixels (centre square crop, then resize).")(fn)


def _report(report, out: str) -> None:
    for split, info in report.datasets.items():
        click.echo(f"{split}: {info.samples} images in {len(info.shards)} shards")
    if report.failures:
        click.echo(f"{len(report.failures)} images skipped, for example:", err=True)
        for failure in report.failures[:10]:
            click.echo(f"  {failure}", err=True)
    click.echo(f"wrote {report.total()} images to {out}")


def _common(kw: dict) -> dict:
    return {"size": kw["size"], "format": kw["format_"], "image_format": kw["image_format"],
            "quality": kw["quality"], "shard_size": kw["shard_size"], "workers": _workers(kw["workers"]),
            "limit": kw["limit"], "overwrite": kw["overwrite"], "progress": True}


@import_.command("celeba")
@click.argument("root")
@click.argument("out")
@_import_options
@_user_errors
def import_celeba_cmd(root, out, **kw):
    """CelebA (img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt) → OUT/{train,val,test}."""
    from bridgegan_batch.data.importers import import_celeba

    _report(import_celeba(root, out, **_common(kw)), out)


@import_.command("celebahq")
@click.argument("root")
@click.argument("out")
@click.option("--partition", default=None, metavar="FILE",
              help="CelebA's list_eval_partition.txt: split by each image's original CelebA split.")
@_import_options
@_user_errors
def import_celebahq_cmd(root, out, partition, **kw):
    """CelebAMask-HQ (CelebA-HQ-img/, CelebAMask-HQ-attribute-anno.txt) → OUT/all or OUT/{splits}."""
    from bridgegan_batch.data.importers import import_celebahq

    _report(import_celebahq(root, out, partition=partition, **_common(kw)), out)


@import_.command("folder")
@click.argument("images")
@click.argument("csv")
@click.argument("out")
@click.option("--filename-column", default="filename", show_default=True,
              help="CSV column with image paths relative to IMAGES.")
@click.option("--labels", type=click.Choice(["01", "pm1"]), default="01", show_default=True,
              help="Label convention: 01 = 1/0, empty missing; pm1 = 1/-1, 0 or empty missing.")
@_import_options
@_user_errors
def import_folder_cmd(images, csv, out, filename_column, labels, **kw):
    """An image folder plus a CSV (a filename column, one column per attribute) → OUT."""
    from bridgegan_batch.data.importers import import_folder

    _report(import_folder(images, csv, out, filename_column=filename_column, labels=labels, **_common(kw)),
            out)


@main.command(short_help="Count samples, attribute frequencies and failures.")
@click.argument("patterns", nargs=-1, required=True)
@click.option("--format", "format_", type=SHARD_FORMATS, default=None,
              help="Shard format, when the file names do not tell.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--no-decode", is_flag=True, help="Skip decoding images (faster; finds fewer failures).")
@_user_errors
def inspect(patterns, format_, as_json, no_decode):
    """Count samples, attribute frequencies and unreadable samples in shards."""
    from bridgegan_batch.data.inspect import format_report, inspect_dataset

    stats = inspect_dataset(list(patterns), format=format_, decode=not no_decode)
    click.echo(json.dumps(stats, indent=2) if as_json else format_report(stats))


if __name__ == "__main__":
    main()
