# syntax=docker/dockerfile:1
# Image for the marketplace (`marketplace` console script) and the trust adapter
# (`trust-adapter`); compose.yaml runs every application service from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Unprivileged runtime user with a fixed uid/gid (handy for volume ownership).
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin app

WORKDIR /app

# Install the project (dependencies and console scripts) from setup.cfg / pyproject.
# /data: trust adapter output (named volumes copy this ownership on first use);
# /app/instance: local instance files when DATABASE_URL is left at its default.
COPY . /app
RUN pip install . \
 && mkdir -p /data /app/instance \
 && chown app:app /data /app/instance

# The pages' front-end packages, exactly as package-lock.json pins them (Debian's npm;
# no install scripts run), served from /app/node_modules.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && npm ci --ignore-scripts --no-audit --no-fund \
 && apt-get purge -y --auto-remove npm \
 && rm -rf /var/lib/apt/lists/* /root/.npm
ENV MARKETPLACE_FRONTEND_DIR=/app/node_modules

USER app

EXPOSE 8000

CMD ["marketplace", "serve", "--port", "8000"]
