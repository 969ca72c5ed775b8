# kes: one image for every command (`kes controller`, `kes hmac`, `kes render`, ...).
# The base is pinned by version here, in one place; docs/deploy.md says how to pin it
# by digest as well.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
# checkov:skip=CKV_DOCKER_7: both stages use PYTHON_IMAGE, pinned above by version (not latest)
# checkov:skip=CKV_DOCKER_2: Kubernetes ignores HEALTHCHECK; the Deployment probes /healthz and /readyz, and kes hmac and kes render serve no HTTP

# Build: install kes and its dependencies into a virtual environment that has no pip.
# Every dependency comes as a binary wheel, so neither stage needs a compiler.
FROM ${PYTHON_IMAGE} AS build
RUN python -m venv --without-pip /opt/kes
WORKDIR /src
# The context is only what .dockerignore lets through: pyproject.toml, README.md, kes/.
COPY . .
RUN python -m pip --python /opt/kes/bin/python install --no-cache-dir --no-warn-script-location .

# Run: the base and the environment, nothing of the build (no sources, no pip cache).
FROM ${PYTHON_IMAGE}
COPY --from=build /opt/kes /opt/kes
ENV PATH=/opt/kes/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Any uid works, with or without a passwd entry, and no home is needed: Kubernetes
# manifests set their own (config/cluster runs as 65532 on a read-only root).
USER 65532:65532
WORKDIR /
ENTRYPOINT ["kes"]
CMD ["--help"]
