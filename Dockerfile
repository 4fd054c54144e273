# gradwire server image: one replica. docker-compose.yml runs three behind nginx.
#   docker build -t gradwire:0.1.0 .
#   docker run --rm -p 50051:50051 gradwire:0.1.0
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NUMBA_CACHE_DIR=/var/cache/gradwire/numba

WORKDIR /src
# Only what the distribution needs: the package-dir mapping in pyproject.toml
# installs client/, engine/, service/ and proto/gradwire/v1/ as one `gradwire`.
COPY pyproject.toml README.md ./
COPY client ./client
COPY engine ./engine
COPY service ./service
COPY proto ./proto
RUN pip install '.[server]' \
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
