# bridgegan-batch on a Ray base image. For GPU nodes build with
#   docker build --build-arg BASE=rayproject/ray:2.60.0-py311-gpu -t bridgegan-batch:gpu .
ARG BASE=rayproject/ray:2.60.0-py311-cpu
FROM ${BASE}

WORKDIR /opt/bridgegan-batch
COPY pyproject.toml README.md ./
COPY bridgegan_batch ./bridgegan_batch
COPY configs ./configs
# The Ray image already has ray; torch comes from the base's index (CUDA build on GPU images).
RUN pip install --no-cache-dir . && bridgegan-batch --version

ENTRYPOINT ["bridgegan-batch"]
CMD ["--help"]
