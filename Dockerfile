FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REBOOTABLE_VAR_DIR=/var/lib/rebootable \
    STATIC_ROOT=/app/staticfiles

RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/rebootable --create-home rebootable

WORKDIR /app
# The runtime only: tests, tooling and the lab (requirements-dev.txt) stay out of the image.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# collectstatic needs no database; a throwaway key keeps settings from writing one to disk.
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput -v0

USER rebootable
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
