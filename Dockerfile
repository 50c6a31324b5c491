# One image for the four saga services. docker-compose.yml picks the service through `command`,
# the very argv that the local runner starts (`python -m system <service>`, see
# harness/runner/commands.py); tests/compose checks that the two agree.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package is built from (pyproject names README.md as its readme).
COPY pyproject.toml README.md ./
COPY system ./system
COPY harness ./harness

# The services run as an unprivileged user. /data belongs to it, and Docker copies that
# ownership into the empty named volume that compose mounts there on first use.
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin saga \
    && mkdir /data \
    && chown saga /data

USER saga
EXPOSE 8001 8002 8003 8004

# Compose sets the command per service; run alone, the image says how to use it.
CMD ["python", "-m", "system", "--help"]
