# One image for every component; compose.yaml chooses each container's command.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The generated SDK first: it changes less often than the services, so its layer is reused.
COPY gen/python ./gen/python
RUN pip install ./gen/python

# The whole checkout (minus .dockerignore) so sql/ and the catalog's data files travel along;
# services run from /app with `python -m`, like the embedded stack runs them from the checkout.
COPY . .
RUN pip install . && useradd --system --no-create-home --home-dir /app analytics

USER analytics
# Each compose service sets its own command, e.g. `python -m services.catalog`.
CMD ["python", "-m", "analytics_engine.cli", "--help"]
