# daily-papers-bot: `papers-bot run` as a non-root user, state in the /data volume.
#   docker build -t papers-bot .
#   docker run -p 3000:3000 -v papers-data:/data -e SLACK_BOT_TOKEN -e SLACK_APP_TOKEN \
#     -e PAPERS_BOT_SLACK__ENABLED=true papers-bot
# A config file goes to /data/config.yaml (the working directory), or any path with --config.

# Build the wheel in a throw-away stage: the final image holds no sources and no build tools.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin papers \
    && mkdir -p /data && chown papers:papers /data

USER papers
WORKDIR /data
VOLUME ["/data"]
ENV PAPERS_BOT_DATABASE_URL=sqlite:////data/papers.db \
    PAPERS_BOT_SERVER__HOST=0.0.0.0 \
    PAPERS_BOT_SERVER__PORT=3000
EXPOSE 3000

# Slim images have no curl: ask /healthz with the Python that is there anyway.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PAPERS_BOT_SERVER__PORT', '3000'), timeout=4)"]

# SIGTERM (docker stop) lets deliveries in flight finish (up to 30 s): use --stop-timeout 45.
CMD ["papers-bot", "run"]
