# The ccpulse worker image: `docker build -t ccpulse .`, then `docker run ccpulse` (configured
# with CCPULSE_* variables; see docs/configuration.md and docker-compose.yml).
# The build stage compiles the KPI core's hot modules (setup.py, mypyc) into a wheel; the image
# itself carries no compiler.
FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the package is built from (the repository's .venv and data stay out of the image).
COPY pyproject.toml setup.py README.md ./
COPY ccpulse ccpulse
COPY schemas schemas
COPY streams streams
COPY sinks sinks
COPY sources sources
COPY wallboard wallboard
COPY deploy/monitoring deploy/monitoring
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CCPULSE_NATIVE=require

COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --create-home --home-dir /var/lib/ccpulse ccpulse

# Faust creates <app_id>-data/ in the working directory: give it a writable one.
USER ccpulse
WORKDIR /var/lib/ccpulse
EXPOSE 9464
# 200 while the worker consumes and writes to Redis, 503 otherwise (docs/deploy.md).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]
CMD ["ccpulse", "worker"]
