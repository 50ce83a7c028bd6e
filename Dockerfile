# bridgegan-batch on a Ray base image. For GPU nodes build with
#   docker build --build-arg BASE=rayproject/ray:2.60.0-py311-gpu -t bridgegan-batch:gpu .
ARG BASE=rayproject/ray:2.60.0-py311-cpu
FROM ${BASE}

WORKDIR /opt/bridgegan-batch
# The Ray images run as user ray (uid 1000, group users 100).
COPY --chown=1000:100 pyproject.toml README.md ./
COPY --chown=1000:100 bridgegan_batch ./bridgegan_batch
COPY --chown=1000:100 configs ./configs
COPY --chown=1000:100 jobs ./jobs
# The Ray image already has ray; torch comes from the base's index (CUDA build on GPU images).
# s3fs lets jobs read and write s3:// shards (a cluster's output must be on shared storage).
RUN pip install --no-cache-dir . s3fs && bridgegan-batch --version

ENTRYPOINT ["bridgegan-batch"]
CMD ["--help"]
