#!/usr/bin/env bash
# Set up ./.venv with bridgegan-batch installed (editable). `--dev` adds the test tools.
# Without an NVIDIA GPU it installs the CPU build of torch first: a plain `torch` requirement
# would otherwise pull a CUDA build of several GB.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
py=.venv/bin/python
"$py" -m pip install --quiet --upgrade pip
if ! "$py" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found; pip will pick a CUDA build of torch"
  else
    # --no-compile: Python compiles what it imports, on first import; pip compiling all of torch took 26 s.
    "$py" -m pip install --quiet --no-compile "torch==2.13.0"
  fi
fi
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"
# The rest through uv where it installs and reaches an index (seconds: 7 s against pip's 70 s here, cold
# caches); pip otherwise, with whatever index the machine's pip is configured for.
if ! { "$py" -m pip install --quiet uv && "$py" -m uv pip install --quiet --python "$py" -e ".${extras}"; }; then
  echo "setup: uv unavailable or failed; installing with pip"
  "$py" -m pip install --quiet -e ".${extras}"
fi
echo "setup: ready ($("$py" -c 'import torch, bridgegan_batch; print("bridgegan-batch", bridgegan_batch.__version__, "torch", torch.__version__)'))"
