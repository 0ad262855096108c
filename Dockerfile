# ECM Admin API: production image (gunicorn, configured from the environment).
#   docker build -t ecm-admin .
#   docker run -e SECRET_KEY=... -e DATABASE_URL=postgresql://... -p 8000:8000 ecm-admin
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app

# Runtime dependencies only (not the dev extra), at the versions pinned in requirements.lock.
# This layer is rebuilt only when pyproject.toml or requirements.lock changes.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -c requirements.lock -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .

# Static files of the Django admin. A throwaway key: settings refuse to load without one.
RUN SECRET_KEY=collectstatic-only-not-a-real-key DEBUG=0 \
    python manage.py collectstatic --noinput --verbosity 0

USER app

ENV GUNICORN_BIND=0.0.0.0:8000
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py"]
