#!/usr/bin/env bash
# Here, before a lent-GPU session: the Python packages the GPU machine's image lacks, for its Python 3.12,
# into .gpu/ (ignored by git; carried with `carry: [".gpu"]`). Ray is slimmed (no Java jars, RLlib or Serve)
# and xz-packed to fit the 64 MiB that may travel. Then, there: scripts/gpu_session.sh (through scripts/gpu_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
pip=${PIP:-.venv/bin/pip}
ray_version=$(.venv/bin/python -c 'import ray; print(ray.__version__)')
rm -rf .gpu && mkdir -p .gpu/wheels
platform=(--only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64
          --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64)
# What the image has (torch, numpy, pyarrow, pillow, click, tqdm, pyyaml, safetensors, pandas, aiohttp,
# msgpack, protobuf, requests, filelock, attrs) is not fetched.
"$pip" download --quiet --no-deps "${platform[@]}" -d .gpu/wheels pydantic pydantic-core annotated-types \
  typing-inspection typing-extensions webdataset braceexpand jsonschema jsonschema-specifications referencing rpds-py
"$pip" download --quiet --no-deps "${platform[@]}" -d .gpu/ray "ray==$ray_version"
(cd .gpu/ray && mkdir x && cd x && unzip -q ../ray-*.whl && rm -rf ray/jars ray/rllib ray/serve \
  && tar cf - . | xz -T0 -6 > ../../ray-slim.tar.xz) && rm -rf .gpu/ray
du -sh .gpu
