# migwatch: `docker build -t migwatch .` then `docker compose up -d` (see README, "Operations").
# Stage 1 builds a virtualenv with migwatch and its dependencies from pyproject.toml.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY flows flows
COPY warehouse warehouse
COPY alerts alerts
RUN /opt/venv/bin/pip install .

# Stage 2: the virtualenv, the configuration and the flow sources (prefect.yaml entrypoints),
# run as a non-root user; warehouse, digest outbox and Prefect home on the /data volume.
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin migwatch \
    && mkdir -p /data /app \
    && chown migwatch:migwatch /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY sources.toml topics.toml prefect.yaml ./
COPY flows flows
COPY warehouse warehouse
COPY alerts alerts
# sources.toml keeps the outbox at var/outbox: var/ is the volume
RUN ln -s /data /app/var
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MIGWATCH_CONFIG=/app/sources.toml \
    MIGWATCH_DB=/data/migwatch.duckdb \
    PREFECT_HOME=/data/prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false
VOLUME ["/data"]
USER 10001:10001
HEALTHCHECK --interval=60s --timeout=40s --start-period=120s --retries=3 \
    CMD ["migwatch", "health"]
STOPSIGNAL SIGTERM
CMD ["migwatch", "serve"]
