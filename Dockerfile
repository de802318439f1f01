# Vigil media server image (used by docker-compose.yml).
#
#   docker build -t vigil .                        # default: no torch, nothing in Vigil needs it
#   docker build --build-arg WITH_TORCH=1 -t vigil .   # adds the CPU build of torch, never the CUDA one
#
# Installs like the Makefile: the locked versions (requirements.lock, resolved by `make lock` from
# pyproject.toml with the overrides mediapipe needs) with --no-deps, then Vigil itself with --no-deps.
# tests/test_compose.py checks that the Makefile installs the same pins, that CMD runs the console
# script declared in pyproject.toml, and that HEALTHCHECK asks the liveness probe.
#
# Production is the default (VIGIL_ENV=production): join codes, and no start without VIGIL_JWT_SECRET.
# For a local try-out: docker run -e VIGIL_ENV=dev -p 8080:8080 vigil
FROM python:3.11-slim

# Every model Vigil runs is ONNX (onnxruntime) or mediapipe; torch is only for experiments. When asked
# for, take it from PyTorch's CPU index: the default PyPI wheel pulls ~3 GB of CUDA libraries.
ARG WITH_TORCH=0
ARG TORCH_VERSION=2.13.0

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIGIL_ENV=production \
    VIGIL_DATA_DIR=/data \
    VIGIL_HOST=0.0.0.0 \
    VIGIL_PORT=8080

WORKDIR /app

RUN if [ "$WITH_TORCH" = "1" ]; then \
        pip install "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu; \
    fi

# The locked dependencies first: a layer that a change to Vigil's code does not rebuild.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

# The packages named in pyproject.toml ([tool.setuptools.packages.find]), the pages, and what the
# build metadata reads (README.md is the project's readme).
COPY pyproject.toml README.md ./
COPY server ./server
COPY pipeline ./pipeline
COPY static ./static

RUN pip install --no-deps -e . \
 && vigil --help >/dev/null

# Run unprivileged; /data (VIGIL_DATA_DIR) holds evidence snapshots and generated secrets.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin vigil \
 && mkdir -p /data \
 && chown vigil /data
USER vigil
VOLUME ["/data"]

EXPOSE 8080
# Liveness only (/livez): a Redis blip or a full worker must not mark the container unhealthy; /readyz
# is for the load balancer. python:3.11-slim has no curl. It asks the port VIGIL_PORT says, as `vigil serve` does:
# `docker run -e VIGIL_PORT=9000` moves both (CMD passes no --port that would override the setting).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('VIGIL_PORT', '8080') + '/livez', timeout=3)"]
CMD ["vigil", "serve"]
