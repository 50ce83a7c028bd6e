#!/usr/bin/env bash
# Submit a bridgegan-batch job to an existing Ray cluster (Ray Jobs API) and wait for it.
#
#   deploy/submit_nightly.sh [JOB.yaml] [extra `bridgegan-batch run` args ...]
#
#   JOB        a job file inside this repository, relative to the repo root
#              (default: jobs/glasses_aug.yaml). Give it explicitly to pass extra args:
#              deploy/submit_nightly.sh jobs/glasses_aug.yaml --set output.uri=s3://bucket/glasses_aug
#
# Environment:
#   RAY_ADDRESS    the cluster's job server (dashboard) address   [http://127.0.0.1:8265]
#   SUBMISSION_ID  the Ray submission id  [bridgegan-<job>-<UTC date and time>]; Ray refuses an id
#                  that already exists on the cluster, so the default carries the time as well as the date.
#   NO_WAIT=1      return after submitting (ray job submit --no-wait) instead of streaming the logs.
#
# The repository is uploaded as the job's working directory (files ignored by .gitignore are left
# out), so JOB resolves on the cluster. Every cluster node needs bridgegan-batch installed (the
# image from the Dockerfile). Without NO_WAIT the exit status is 1 when the job fails, including
# when `bridgegan-batch run` exits non-zero (error rate above output.max_error_rate, a refused rerun).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

JOB="${1:-jobs/glasses_aug.yaml}"
if [ "$#" -gt 0 ]; then
    shift
fi
case "$JOB" in
    /*) echo "submit_nightly.sh: give JOB relative to the repository root, not $JOB" >&2; exit 2 ;;
esac
if [ ! -f "$JOB" ]; then
    echo "submit_nightly.sh: no job file $JOB (relative to $(pwd))" >&2
    exit 2
fi

name="$(basename "$JOB")"
name="${name%.*}"
SUBMISSION_ID="${SUBMISSION_ID:-bridgegan-${name}-$(date -u +%Y%m%dT%H%M%SZ)}"

wait_flag=()
if [ "${NO_WAIT:-0}" = "1" ]; then
    wait_flag=(--no-wait)
fi

exec ray job submit \
    --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" \
    --working-dir . \
    --submission-id "$SUBMISSION_ID" \
    ${wait_flag[@]+"${wait_flag[@]}"} \
    -- bridgegan-batch run "$JOB" --set resources.address=auto "$@"
