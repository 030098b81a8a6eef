#!/usr/bin/env bash
# Prove the compose stack's own image (ops/fleetcast.Dockerfile: flows, MLflow and Prefect
# servers, Dask) on this machine, with podman and no image registry:
#   1. the same packages, podman set-up and local bookworm base as scripts/container_image.sh;
#   2. hadolint on ops/fleetcast.Dockerfile; `podman build` of it FROM that base;
#   3. in the image: the drivers the stack uses import, and `fleetcast pipeline` runs end to
#      end on the shipped data with the embedded defaults (Redis, Prefect, MLflow on SQLite).
# Usage (as root, from anywhere): scripts/stack_image.sh
set -euo pipefail
# shellcheck source=scripts/container_image.sh
source "$(dirname "${BASH_SOURCE[0]}")/container_image.sh"

STACK_IMAGE=localhost/fleetcast-stack:latest
DOCKERFILE=ops/fleetcast.Dockerfile

build_stack_image() {
  local pip_config=$WORK_DIR/pip.conf uv_config=$WORK_DIR/uv.toml
  log "podman build $STACK_IMAGE FROM $BASE_IMAGE"
  # As for the Bento: the host's CA bundle, and pip/uv configs that use it, for the build only.
  printf '[global]\nbreak-system-packages = true\ncert = /etc/ssl/certs/ca-certificates.crt\n' \
    >"$pip_config"
  printf 'native-tls = true\n' >"$uv_config"
  # The commit the image is built from: models trained in it record it (the image has no .git).
  podman build --pull=never --network=host --layers --from "$BASE_IMAGE" \
    --build-arg FLEETCAST_GIT_COMMIT="$(git -C "$PROJECT" rev-parse HEAD 2>/dev/null || true)" \
    -v "$HOST_CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" -v "$pip_config:/etc/pip.conf:ro" \
    -v "$uv_config:/etc/uv/uv.toml:ro" -f "$PROJECT/$DOCKERFILE" -t "$STACK_IMAGE" "$PROJECT" >&2
}

check_stack_image() {
  local port
  log "in $STACK_IMAGE: the stack's drivers, then the whole pipeline on embedded defaults"
  podman run --rm "$STACK_IMAGE" python -c \
    "import asyncpg, psycopg2, distributed, prefect_dask, mlflow; print('drivers: ok')"
  podman run --rm "$STACK_IMAGE" id
  port=$(free_port)
  # Then, in the same container, the commit the champion records: the build argument's.
  podman run --rm --network host -e FLEETCAST_PREFECT_PORT="$port" "$STACK_IMAGE" sh -c \
    "fleetcast pipeline | tail -n 8 && python -c '$CHAMPION_COMMIT'"
}

# Prints the champion's version and the commit it was trained from (fleetcast.git_commit).
CHAMPION_COMMIT='
from features.contract.registry import CHAMPION, Tag
from features.settings import Settings
from features.stores import model_registry
settings = Settings()
client, _ = model_registry.connect(settings)
champion = client.get_model_version_by_alias(settings.registered_model, CHAMPION)
print(f"champion: v{champion.version} trained from commit {champion.tags.get(Tag.GIT_COMMIT)}")
'

stack_main() {
  local started=$SECONDS
  trap cleanup EXIT
  check_prerequisites
  install_packages
  configure_podman
  WORK_DIR=$(mktemp -d /tmp/fleetcast-stack-build.XXXXXX)
  build_base_image
  lint_dockerfile "$PROJECT/$DOCKERFILE"
  build_stack_image
  check_stack_image
  echo "image size:       $(megabytes "$STACK_IMAGE")"
  echo "built from:       $(git -C "$PROJECT" rev-parse HEAD 2>/dev/null || echo 'no git checkout')"
  echo "total time:       $((SECONDS - started)) s"
}

# Sourced by scripts/compose_podman.sh for build_stack_image.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  stack_main "$@"
fi
