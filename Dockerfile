# Production image: gunicorn + whitenoise, talking to the real AudioShake API and PostgreSQL.
# The same image runs the poller: `docker run ... python manage.py poll_tasks`.
# Build with the sandbox (for a demo without a key): --build-arg EXTRAS=sandbox; with S3 storage
# for uploads and outputs (several machines, docs/operations.md): --build-arg EXTRAS=s3
FROM python:3.13-slim

ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WEB_CONCURRENCY=3 \
    PORT=8000

RUN groupadd --system shakeweb && useradd --system --gid shakeweb --home /app shakeweb
WORKDIR /app

COPY pyproject.toml README.md ./
RUN pip install --upgrade pip && \
    pip install ".${EXTRAS:+[$EXTRAS]}"

COPY --chown=shakeweb:shakeweb . .
# collectstatic needs settings that import, not secrets: a throwaway key for this step only.
RUN DEBUG=0 SECRET_KEY=collectstatic-only AUDIOSHAKE_API_KEY=build \
    python manage.py collectstatic --noinput -v0 && \
    mkdir -p /app/var && chown -R shakeweb:shakeweb /app/var /app/staticfiles

USER shakeweb
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=4)" || exit 1
CMD ["sh", "-c", "exec gunicorn shakeweb.wsgi --bind 0.0.0.0:${PORT} --workers ${WEB_CONCURRENCY} --threads 4 --timeout 300 --access-logfile - --logger-class shakeweb.gunicorn_logging.RedactingLogger"]
