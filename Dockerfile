# syntax=docker/dockerfile:1
# lbc's image: `make image` (docker build -t lbc:dev .).
#
# Two stages on the same base image, so the virtual environment built in the first runs unchanged
# in the second (its interpreter links point at /usr/local/bin/python3). Everything comes from the
# hash-pinned lock files as binary wheels: nothing is compiled, so neither stage needs a compiler,
# and the final image has no pip cache, no build tools and no tests.
#
# The RUN steps between "install:begin" and "install:end" are replayed in a fresh virtual
# environment by tests/integration/manifests/test_image_install.py (there is no Docker engine on
# the development machines); keep them plain POSIX shell that uses only $BUILD_VENV, $VENV and
# $DIST for paths.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV BUILD_VENV=/opt/build \
    VENV=/opt/lbc/venv \
    DIST=/opt/dist \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY requirements.lock requirements-build.lock pyproject.toml README.md ./
COPY lbc ./lbc
# install:begin
# Build tools live in their own environment: they make lbc's wheel and never reach the image.
RUN python -m venv "$BUILD_VENV" \
 && "$BUILD_VENV/bin/pip" install --require-hashes --only-binary=:all: --no-deps -r requirements-build.lock \
 && "$BUILD_VENV/bin/pip" wheel --no-deps --no-build-isolation --wheel-dir "$DIST" .
# The runtime environment gets no pip (nor the setuptools some venvs bundle): the build
# environment's pip installs into it the dependencies exactly as locked (hashes checked), then
# lbc itself without resolving anything.
RUN python -m venv --without-pip "$VENV" \
 && "$BUILD_VENV/bin/pip" --python "$VENV/bin/python" install \
      --require-hashes --only-binary=:all: --no-deps -r requirements.lock \
 && "$BUILD_VENV/bin/pip" --python "$VENV/bin/python" install \
      --no-deps --no-index "$DIST"/lbc-*.whl \
 && "$VENV/bin/python" -m compileall -q -j 0 "$VENV/lib" \
 && cd / && "$VENV/bin/python" -m lbc version
# install:end

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="lbc" \
      org.opencontainers.image.description="Binds Kubernetes Services to AWS ELBv2 target groups (TargetGroupBinding), with MultiCluster target groups" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# The numeric user matches runAsUser/runAsGroup in manifests/manager/deployment.yaml, so
# runAsNonRoot can be verified by the kubelet without reading /etc/passwd.
RUN groupadd --system --gid 65532 lbc \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin lbc
COPY --from=builder /opt/lbc/venv /opt/lbc/venv
# Bytecode is compiled at build time; the root filesystem is read-only at run time.
ENV PATH=/opt/lbc/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
EXPOSE 8080 8081
# Exec form: python is PID 1 and receives SIGTERM itself (lbc installs its handler).
ENTRYPOINT ["python", "-m", "lbc", "run"]
