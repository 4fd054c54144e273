# gradwire server image: one replica. docker-compose.yml runs three behind nginx.
#   docker build -t gradwire:0.1.0 .
#   docker run --rm -p 50051:50051 gradwire:0.1.0
# PYTHON_IMAGE swaps the base for a local stand-in where no image registry can be reached
# (deploy/standin-images.sh, used by `make test-compose`); users keep the official image.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NUMBA_CACHE_DIR=/var/cache/gradwire/numba

WORKDIR /src
# Dependencies first, from pyproject.toml alone (empty package directories stand in for the
# sources), so that a change to the code rebuilds only the layers below, not the pip downloads.
# The package-dir mapping in pyproject.toml installs client/, core/, engine/, service/ and
# proto/gradwire/v1/ as one `gradwire`.
COPY pyproject.toml ./
RUN mkdir -p client core engine service proto/gradwire/v1 && touch README.md \
 && pip install '.[server]' && pip uninstall -y gradwire
COPY README.md ./
COPY client ./client
COPY core ./core
COPY engine ./engine
COPY service ./service
COPY proto ./proto
RUN pip install --no-deps . \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin gradwire \
 && mkdir -p "$NUMBA_CACHE_DIR" && chown gradwire "$NUMBA_CACHE_DIR"

USER gradwire
WORKDIR /tmp
# Compile the engine's Numba kernels into the image's cache so that a new replica
# is ready in about a second instead of paying the JIT on every start.
RUN python -c "import gradwire.engine as e; e.warm_up()"

EXPOSE 50051 9464
STOPSIGNAL SIGTERM
CMD ["gradwire-server", "--host", "0.0.0.0", "--port", "50051"]
