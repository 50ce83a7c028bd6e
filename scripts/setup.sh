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
    # PyPI's Linux torch is the CUDA build; PyTorch's CPU index serves the CPU one. Where that index is out of
    # reach (an offline mirror), whatever index pip is configured for.
    "$py" -m pip install --quiet --no-compile --index-url https://download.pytorch.org/whl/cpu --retries 0 --timeout 20 \
        "torch==2.13.0" 2>/dev/null \
      || { echo "setup: PyTorch's CPU index unreachable; installing torch from pip's configured index"
           "$py" -m pip install --quiet --no-compile "torch==2.13.0"; }
    # Compiled here on both cores (9 s) rather than by pip on one (26 s). Compiled it must be: where
    # PYTHONDONTWRITEBYTECODE is set (CI here), every process would compile each module it imports.
    # (It exits 1 for the few files in torch that are not valid Python on their own; pip passes them over too.)
    "$py" -m compileall -q -j 0 "$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/torch" \
      > /dev/null || :
  fi
fi
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"
# The rest through uv where it installs and reaches an index (14 s with the bytecode compiled, against pip's
# 70 s here); pip otherwise, with whatever index the machine's pip is configured for.
if ! { "$py" -m pip install --quiet uv \
       && "$py" -m uv pip install --quiet --compile-bytecode --python "$py" -e ".${extras}"; }; then
  echo "setup: uv unavailable or failed; installing with pip"
  "$py" -m pip install --quiet -e ".${extras}"
fi
echo "setup: ready ($("$py" -c 'import torch, bridgegan_batch; print("bridgegan-batch", bridgegan_batch.__version__, "torch", torch.__version__)'))"
