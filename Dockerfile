# The ccpulse worker image: `docker build -t ccpulse .`, then `docker run ccpulse` (configured
# with CCPULSE_* variables; see docs/configuration.md and docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the package is built from (the repository's .venv and data stay out of the image).
COPY pyproject.toml README.md ./
COPY ccpulse ccpulse
COPY schemas schemas
COPY streams streams
COPY sinks sinks
COPY sources sources
RUN pip install . \
    && useradd --system --create-home --home-dir /var/lib/ccpulse ccpulse

# Faust creates <app_id>-data/ in the working directory: give it a writable one.
USER ccpulse
WORKDIR /var/lib/ccpulse
EXPOSE 9464
CMD ["ccpulse", "worker"]
