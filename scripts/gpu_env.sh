# Sourced by the lent-GPU scripts, in the repository root: installs what scripts/gpu_prepare.sh put in .gpu/
# (once per machine, into $GPU_SITE) and puts it and the repository on PYTHONPATH. Without .gpu/, a no-op
# but for PYTHONPATH: the machine's own packages are used.
py=${PYTHON:-python3}
GPU_SITE=${GPU_SITE:-/tmp/bridgegan-site}
if [ -d .gpu ] && [ ! -e "$GPU_SITE/.ready" ]; then
  mkdir -p "$GPU_SITE"
  "$py" -m pip install --quiet --no-deps --no-index --no-compile --target "$GPU_SITE" .gpu/wheels/*.whl \
    && tar xJf .gpu/ray-slim.tar.xz -C "$GPU_SITE" && touch "$GPU_SITE/.ready"
fi
export PYTHONPATH="$PWD:$GPU_SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
