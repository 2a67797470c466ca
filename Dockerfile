# triage as a daemon: docker run -e TRIAGE_IMAP_HOST=... -e TRIAGE_IMAP_USER=... -e TRIAGE_IMAP_PASSWORD_FILE=/run/secrets/imap -v triage-data:/data triage
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRIAGE_DB=/data/triage.db \
    TRIAGE_MODEL=/app/models

WORKDIR /app
COPY pyproject.toml README.md ./
COPY triage ./triage
COPY models ./models
RUN pip install --no-cache-dir . && useradd --system --home /data triage && mkdir -p /data && chown triage /data

USER triage
VOLUME ["/data"]
EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz')" || exit 1
CMD ["triage", "daemon", "--metrics-port", "9108", "--metrics-host", "0.0.0.0"]
