# One image for every component; compose.yaml chooses each container's command.

# The browser app, built once with Node; only its static files reach the final image.
FROM node:20-bookworm-slim AS ui
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY gen/ts ./gen/ts
COPY ui/package.json ui/package-lock.json ./ui/
RUN cd ui && npm ci --no-audit --no-fund
COPY ui ./ui
RUN cd ui && npm run build

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
COPY --from=ui /build/ui/dist ./ui/dist
RUN pip install . && useradd --system --no-create-home --home-dir /app analytics

USER analytics
# Each compose service sets its own command, e.g. `python -m services.catalog`.
CMD ["python", "-m", "analytics_engine.cli", "--help"]
