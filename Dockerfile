# smsbatch: the Slack app and its sender in one process (Socket Mode by default).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SMSBATCH_DB=/data/smsbatch.db

WORKDIR /app

# Dependencies first, in their own cached layer: only pyproject.toml changes invalidate it.
COPY pyproject.toml README.md ./
RUN mkdir bot handlers \
    && touch bot/__init__.py handlers/__init__.py \
    && pip install . \
    && pip uninstall --yes smsbatch

COPY bot ./bot
COPY handlers ./handlers
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 smsbatch \
    && mkdir /data \
    && chown smsbatch /data

USER 10001
VOLUME ["/data"]
# HTTP mode only (when SLACK_APP_TOKEN is not set): POST /slack/events, GET /healthz, GET /metrics.
# With SMSBATCH_REPLICA_URL the app replicates /data/smsbatch.db with the bundled litestream.
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["smsbatch-bot", "health"]

# No secrets here: pass SLACK_BOT_TOKEN, SLACK_APP_TOKEN, EAPI_* at run time (--env-file).
ENTRYPOINT ["smsbatch-bot"]
CMD ["run"]
