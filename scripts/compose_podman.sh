#!/usr/bin/env bash
# docker-compose.yml brought up for real under podman, on a machine with no image registry:
#   1. podman with netavark and aardvark-dns (service names resolve; podman's CNI default here
#      has no DNS plugin), docker-compose 1.29 talking to `podman system service`'s Docker API
#      (it honours `depends_on: condition: service_healthy`; podman-compose 1.0.3 does not);
#   2. every image built here: the stack's (ops/fleetcast.Dockerfile), the Bento's, and
#      stand-ins for Redis, PostgreSQL and Prometheus from Debian's packages (ops/podman/);
#      Grafana is left out (not packaged here, its image cannot be pulled);
#   3. up, with the first training capped at 100 rows (FLEETCAST_TRAIN_MAX_ROWS) so that a
#      later one can win; the fleetcast-ingest deployment run, and features -> train ->
#      promote left to the automations and the stack's worker; the Bento serving the champion;
#   4. the cap lifted and 60% promotion confidence asked (the flows container recreated, as an
#      operator would), fleetcast-train run, promote by its automation, and the service checked
#      to swap; then torn down.
# Podman runs health checks through systemd timers, and these machines have no systemd: a loop
# here runs `podman healthcheck run` for every container instead.
# Usage (as root, from anywhere): scripts/compose_podman.sh
set -euo pipefail
# shellcheck source=scripts/stack_image.sh
source "$(dirname "${BASH_SOURCE[0]}")/stack_image.sh"

PROJECT_NAME=fleetcast-podman
OVERRIDE=ops/podman/compose.podman.yml
SERVICES=(redis postgres mlflow prefect-server flows service prometheus)
CHAMPION_TIMEOUT_S=${CHAMPION_TIMEOUT_S:-900}
SERVICE_URL=http://127.0.0.1:3000
PREFECT_URL=http://127.0.0.1:4200/api

PODMAN_SERVICE_PID=""
HEALTH_LOOP_PID=""
ENV_FILE=""
STEP_STARTED=$SECONDS

step() {
  log "$* (after $((SECONDS - STEP_STARTED)) s)"
}

compose() {
  docker-compose --env-file "$ENV_FILE" -p "$PROJECT_NAME" \
    -f "$PROJECT/docker-compose.yml" -f "$PROJECT/$OVERRIDE" "$@"
}

compose_cleanup() {
  local rc=$?
  if [[ -n $ENV_FILE && -n $PODMAN_SERVICE_PID ]]; then
    if ((rc != 0)); then
      compose ps >&2 || true
      compose logs --tail 30 flows service >&2 || true
    fi
    log "tearing down (containers, network, volumes)"
    compose down -v --remove-orphans >&2 || true
  fi
  if [[ -n $HEALTH_LOOP_PID ]]; then kill "$HEALTH_LOOP_PID" 2>/dev/null || true; fi
  if [[ -n $PODMAN_SERVICE_PID ]]; then kill "$PODMAN_SERVICE_PID" 2>/dev/null || true; fi
  [[ -n $WORK_DIR ]] && rm -rf "$WORK_DIR"
  # The Bento is an intermediate, as in container_image.sh: the image is what stays.
  if [[ -n $BENTO_TAG ]]; then "$VENV_BIN/bentoml" delete -y "$BENTO_TAG" >/dev/null 2>&1 || true; fi
  ((rc == 0)) || echo "compose_podman.sh: FAILED (exit $rc)" >&2
}

use_netavark() {
  # This run's own podman configuration: the machine's, plus netavark. Images are shared.
  export CONTAINERS_CONF=$WORK_DIR/containers.conf
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n\n[network]\nnetwork_backend = "netavark"\n' \
    >"$CONTAINERS_CONF"
  [[ $(podman info --format '{{.Host.NetworkBackend}}') == netavark ]] || die "podman did not take netavark"
}

build_standins() {
  local name
  for name in redis postgres prometheus; do
    log "podman build localhost/fleetcast-$name:bookworm (Debian's package on $BASE_IMAGE)"
    podman build --pull=never --network=host --build-arg BASE_IMAGE="$BASE_IMAGE" \
      -f "$PROJECT/ops/podman/$name.Dockerfile" -t "localhost/fleetcast-$name:bookworm" \
      "$PROJECT/ops/podman" >&2
  done
}

build_bento_image() {
  local tag
  tag=$(build_bento)
  BENTO_TAG=$tag
  build_image "$("$VENV_BIN/bentoml" get "$tag" -o path)" "$IMAGE_REPO:${tag#fleetcast:}"
}

secret() {
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

write_env_file() {
  # write_env_file SETTING=VALUE...: the stack's .env; the secrets are drawn once and kept, as
  # in a real .env (PostgreSQL keeps the password it was initialised with).
  if [[ -z $ENV_FILE ]]; then
    ENV_FILE=$WORK_DIR/stack.env
    {
      echo "POSTGRES_PASSWORD=$(secret)"
      echo "GRAFANA_ADMIN_PASSWORD=$(secret)"
      echo "FLEETCAST_ADMIN_TOKEN=$(secret)"
      echo "FLEETCAST_GIT_COMMIT=$(git -C "$PROJECT" rev-parse HEAD 2>/dev/null || true)"
    } >"$WORK_DIR/secrets.env"
  fi
  { cat "$WORK_DIR/secrets.env"; printf '%s\n' "$@"; } >"$ENV_FILE"
}

start_docker_api() {
  local socket=$WORK_DIR/podman.sock
  podman system service --time=0 "unix://$socket" >"$WORK_DIR/podman-service.log" 2>&1 &
  PODMAN_SERVICE_PID=$!
  export DOCKER_HOST=unix://$socket
  until curl -s --unix-socket "$socket" http://d/_ping >/dev/null; do sleep 0.2; done
}

start_health_loop() {
  while true; do
    podman ps --filter "label=com.docker.compose.project=$PROJECT_NAME" --format '{{.Names}}' |
      while read -r name; do podman healthcheck run "$name" </dev/null >/dev/null 2>&1 || true; done
    sleep 3
  done &
  HEALTH_LOOP_PID=$!
}

wait_for() {
  # wait_for TIMEOUT_S WHAT COMMAND...: until COMMAND succeeds.
  local timeout=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null; do  # stderr stays: a check that gives up says why
    ((SECONDS < deadline)) || die "$what: not within $timeout s"
    sleep 2
  done
}

deployment_exists() {
  curl -sf -X POST -H 'content-type: application/json' "$PREFECT_URL/deployments/filter" \
    -d "{\"deployments\": {\"name\": {\"any_\": [\"$1\"]}}}" | grep -q "\"name\":\"$1\""
}

served_version() {
  curl -sf "$SERVICE_URL/model" |
    "$VENV_BIN/python" -c 'import json, sys; print(json.load(sys.stdin)["version"])' 2>/dev/null
}

serves_other_than() {
  local now
  now=$(served_version) && [[ $now != "$1" ]]
}

run_deployment() {
  compose exec -T flows prefect deployment run "$1" >&2
}

runs_in_state() {
  # runs_in_state STATE_TYPE [DEPLOYMENT]: how many flow runs (of DEPLOYMENT) are in it.
  local deployments=""
  [[ -n ${2:-} ]] && deployments=", \"deployments\": {\"name\": {\"any_\": [\"$2\"]}}"
  curl -sf -X POST -H 'content-type: application/json' "$PREFECT_URL/flow_runs/count" \
    -d "{\"flow_runs\": {\"state\": {\"type\": {\"any_\": [\"$1\"]}}}$deployments}" || echo 0
}

no_failed_runs() {
  local failed
  failed=$(($(runs_in_state FAILED) + $(runs_in_state CRASHED)))
  ((failed == 0)) || die "$failed flow runs failed or crashed (Prefect UI: http://127.0.0.1:4200)"
}

champion_served() {
  no_failed_runs
  curl -sf "$SERVICE_URL/readyz" >/dev/null
}

promotions_judged() {
  # promotions_judged N: N runs of fleetcast-promote completed (each promotes or refuses).
  no_failed_runs
  (($(runs_in_state COMPLETED fleetcast-promote) >= $1))
}

main() {
  local started=$SECONDS first second
  trap compose_cleanup EXIT
  check_prerequisites
  install_packages
  install_packages netavark aardvark-dns docker-compose
  configure_podman
  WORK_DIR=$(mktemp -d /tmp/fleetcast-compose.XXXXXX)
  use_netavark
  build_base_image
  build_stack_image
  build_bento_image
  build_standins
  echo "images built:      $((SECONDS - started)) s"
  write_env_file FLEETCAST_TRAIN_MAX_ROWS=100
  start_docker_api
  start_health_loop
  STEP_STARTED=$SECONDS
  step "docker-compose up -d ${SERVICES[*]}"
  compose up -d --no-build "${SERVICES[@]}" >&2
  echo "compose up:        $((SECONDS - STEP_STARTED)) s"
  compose ps
  wait_for 300 "the deployments of prefect.yaml applied by the flows container" deployment_exists fleetcast-ingest
  step "fleetcast-ingest run; features -> train -> promote left to the automations"
  run_deployment ingest/fleetcast-ingest
  wait_for "$CHAMPION_TIMEOUT_S" "a champion served at $SERVICE_URL" champion_served
  first=$(served_version)
  echo "first champion:    v$first served, $((SECONDS - STEP_STARTED)) s after up"
  curl -sf -X POST -H 'content-type: application/json' "$SERVICE_URL/predict" \
    -d '{"technology": 1, "actual_price": 60, "recommended_price": 55, "num_images": 5, "street_parked": 0, "description": 120}'
  echo
  step "cap lifted, 60% confidence asked (flows recreated); fleetcast-train run, promote by its automation"
  # At the default 95% the 200-vehicle holdout refused the uncapped model (2.8% better,
  # bootstrap 90% interval [-3.8%, 8.6%]: measured, docs/operations.md): the gate, not a fault.
  write_env_file FLEETCAST_PROMOTION_CONFIDENCE=0.6
  compose up -d --no-build --no-deps flows >&2
  wait_for 300 "the flows container's deployments" deployment_exists fleetcast-train
  run_deployment train/fleetcast-train
  wait_for "$CHAMPION_TIMEOUT_S" "the second promote run" promotions_judged 2
  echo "promote judged:    $((SECONDS - STEP_STARTED)) s after up"
  compose exec -T flows fleetcast models
  wait_for 60 "the service swapping from v$first (refused above?)" serves_other_than "$first"
  second=$(served_version)
  echo "swapped:           v$first -> v$second, $((SECONDS - STEP_STARTED)) s after up"
  curl -sf "$SERVICE_URL/model" | "$VENV_BIN/python" -c 'import json, sys; m = json.load(sys.stdin); print("service /model:   ", {k: m[k] for k in ("version", "family", "backend", "last_reload")})'
  echo "total time:        $((SECONDS - started)) s"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
