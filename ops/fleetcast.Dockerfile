# The fleetcast image of the compose stack: flows (Prefect worker), the MLflow and Prefect
# servers, and the Dask scheduler and workers all run this one locked environment. The service
# runs the Bento's own image (`bentoml containerize`, or scripts/container_image.sh).
FROM python:3.11-slim-bookworm

ARG UV_VERSION=0.13.8
# uid 1034 is the user of the Bento's image (BentoML's default): the flows and the service
# share the state volume (landing folder, snapshots), so both must be able to write it. The
# MLflow server writes artifacts to its volume: Docker gives a new volume the owner of the
# folder it mounts on, and root when the folder is missing (podman gives the container's user).
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && useradd --create-home --uid 1034 fleetcast \
    && mkdir -p /var/lib/fleetcast /var/lib/mlflow \
    && chown fleetcast /var/lib/fleetcast /var/lib/mlflow

WORKDIR /app
ENV UV_PROJECT_ENVIRONMENT=/app/.venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy \
    PATH=/app/.venv/bin:$PATH FLEETCAST_HOME=/var/lib/fleetcast

# Dependencies first (a layer that survives code changes), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --group stack --no-install-project --no-cache
COPY features ./features
COPY flows ./flows
COPY service ./service
COPY data ./data
COPY prefect.yaml bentofile.yaml ./
RUN uv sync --frozen --no-dev --group stack --no-cache

# The commit this image was built from (the image holds no .git): training records it on every
# model. `docker compose build` passes FLEETCAST_GIT_COMMIT from the shell; empty: `unknown`.
ARG FLEETCAST_GIT_COMMIT=""
ENV FLEETCAST_GIT_COMMIT=${FLEETCAST_GIT_COMMIT}
LABEL org.opencontainers.image.revision=${FLEETCAST_GIT_COMMIT}

USER 1034:1034
CMD ["fleetcast", "--help"]
