#!/usr/bin/env bash
# A Docker engine, Compose v2 and the images compose.yaml needs, on a machine that may have
# none of them (docs/compose.md, "A Docker engine for the tests"). Idempotent: every step
# first checks whether it is needed, so a machine where `docker compose` already works is
# left alone, and a warm run takes seconds.
#
#   scripts/docker-engine.sh [up]   engine + compose plugin + images; writes $STATE/images.env
#   scripts/docker-engine.sh stop   stop the dockerd THIS script started (nothing else)
#   scripts/docker-engine.sh status say what answers and who started it
#
# Steps of `up`, each only when needed:
#   1. engine: when no engine answers, apt-get install docker.io and start
#      `dockerd --storage-driver=overlay2` in the background (log: $STATE/dockerd.log, pid:
#      $STATE/dockerd.pid), then wait for it to answer.
#   2. compose: when `docker compose version` fails, build Compose v2 from its Go module
#      (`go install` of it is refused: its go.mod has exclude directives), cache the binary
#      under $STATE and install it as ~/.docker/cli-plugins/docker-compose.
#   3. images: when the official base images cannot be pulled, build local stand-ins:
#      local/debian:bookworm (debootstrap minbase from the mirror apt already uses, with the
#      host's CA certificates), local/python:3.11-bookworm (Debian's python3 + a venv),
#      local/golang:bookworm (the host's Go toolchain) and local/toxiproxy:2.12.0 (a static
#      toxiproxy-server in a FROM scratch image). $STATE/images.env then names them as the
#      HARNESS_*_IMAGE variables compose.yaml reads; it is empty when the official images work.
#
# Settings: HARNESS_DOCKER_STATE (default <repo>/.tools/docker), COMPOSE_VERSION (v2.40.3),
# HARNESS_DEBIAN_MIRROR (default: the first deb.debian.org-style URI of apt's sources).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/_apt.sh
. "$REPO/scripts/_apt.sh"
STATE="${HARNESS_DOCKER_STATE:-$REPO/.tools/docker}"
COMPOSE_VERSION="${COMPOSE_VERSION:-v2.40.3}"
TOXIPROXY_VERSION="v2.12.0"
PIDFILE="$STATE/dockerd.pid"
LOG="$STATE/dockerd.log"
ENVFILE="$STATE/images.env"
OFFICIAL_PYTHON="python:3.11.11-slim-bookworm"
OFFICIAL_GO="golang:1.23-bookworm"
OFFICIAL_TOXIPROXY="ghcr.io/shopify/toxiproxy:2.12.0"

say() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { printf 'docker-engine: ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

our_dockerd_pid() {
  # the pid in our pidfile, only while that process is still a dockerd
  [ -f "$PIDFILE" ] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = dockerd ] \
    && echo "$pid"
}

# ------------------------------------------------------------------------------ engine
start_engine() {
  if engine_answers; then
    say "engine answers: $(docker version --format 'server {{.Server.Version}}' 2>/dev/null)"
    return
  fi
  command -v docker >/dev/null 2>&1 || NEED_CLI=1
  if ! command -v dockerd >/dev/null 2>&1 || [ -n "${NEED_CLI:-}" ]; then
    [ "$(id -u)" = 0 ] || die "no Docker engine answers and I am not root: cannot install \
docker.io (install Docker, or start dockerd, then run me again)"
    command -v apt-get >/dev/null 2>&1 || die "no Docker engine answers and there is no \
apt-get to install docker.io: install Docker by hand"
    say "installing Debian's docker.io (dockerd, containerd, runc)..."
    apt_get update -qq || die "apt-get update failed (is the Debian mirror reachable?)"
    DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends \
      docker.io iptables >/dev/null || die "apt-get install docker.io failed"
  fi
  if [ -S /var/run/docker.sock ] && ! our_dockerd_pid >/dev/null \
     && pgrep -x dockerd >/dev/null 2>&1; then
    die "a dockerd is running that I did not start, but it does not answer (see its own log); \
not touching it"
  fi
  mkdir -p "$STATE"
  say "starting dockerd --storage-driver=overlay2 (log: $LOG)"
  # setsid: the engine outlives this script and is not in make's process group
  setsid dockerd --storage-driver=overlay2 >>"$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  local i
  for i in $(seq 1 60); do
    engine_answers && { say "engine ready after ${i}x0.5 s (pid $(cat "$PIDFILE"))"; return; }
    if ! our_dockerd_pid >/dev/null; then
      rm -f "$PIDFILE"
      die "dockerd exited at start; last lines of $LOG:
$(tail -n 15 "$LOG")"
    fi
    sleep 0.5
  done
  die "dockerd (pid $(cat "$PIDFILE")) did not answer within 30 s; last lines of $LOG:
$(tail -n 15 "$LOG")"
}

stop_engine() {
  local pid
  if ! pid="$(our_dockerd_pid)"; then
    rm -f "$PIDFILE"
    say "no dockerd started by this script is running: nothing to stop"
    return
  fi
  say "stopping the dockerd this script started (pid $pid)"
  kill -TERM "$pid"
  local i
  for i in $(seq 1 60); do
    [ -d "/proc/$pid" ] || { rm -f "$PIDFILE"; say "dockerd stopped"; return; }
    sleep 0.5
  done
  die "dockerd (pid $pid) still running 30 s after SIGTERM; see $LOG"
}

# ------------------------------------------------------------------------------ compose
compose_works() { timeout 20 docker compose version >/dev/null 2>&1; }

install_compose() {
  if compose_works; then
    say "compose: $(docker compose version 2>/dev/null)"
    return
  fi
  local cached="$STATE/docker-compose-$COMPOSE_VERSION"
  local plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  if [ ! -x "$cached" ]; then
    command -v go >/dev/null 2>&1 || die "no \`docker compose\` and no Go toolchain to build \
Compose $COMPOSE_VERSION: install the docker-compose-plugin, or Go >= 1.24"
    say "building Compose $COMPOSE_VERSION from its Go module (a few minutes cold)..."
    local t0 dir src
    t0="$(now)"
    dir="$(go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" \
           | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')" \
      || die "go mod download github.com/docker/compose/v2@$COMPOSE_VERSION failed"
    [ -d "$dir" ] || die "go mod download gave no module directory for compose"
    src="$(mktemp -d)"
    # the module cache is read-only: build from a writable copy
    cp -a "$dir/." "$src/" && chmod -R u+w "$src"
    mkdir -p "$STATE"
    (cd "$src" && CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
        -o "$cached.tmp" ./cmd) || { rm -rf "$src"; die "go build of compose failed"; }
    rm -rf "$src"
    mv "$cached.tmp" "$cached"
    say "compose built in $(( $(now) - t0 )) s (cached: $cached)"
  fi
  mkdir -p "$plugin_dir"
  cp "$cached" "$plugin_dir/docker-compose"
  chmod 755 "$plugin_dir/docker-compose"
  compose_works || die "$plugin_dir/docker-compose installed but \`docker compose version\` fails"
  say "compose: $(docker compose version 2>/dev/null)"
}

# ------------------------------------------------------------------------------ images
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

can_pull() {
  have_image "$1" && return 0
  timeout 60 docker pull -q "$1" >/dev/null 2>&1
}

debian_mirror() {
  if [ -n "${HARNESS_DEBIAN_MIRROR:-}" ]; then echo "$HARNESS_DEBIAN_MIRROR"; return; fi
  # deb822 sources (URIs: ...) first, then one-line sources (deb URL bookworm main)
  local uri
  uri="$( (cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true) \
    | awk '/^URIs:/ {print $2}' | grep -v -- '-security' | head -n1)"
  [ -n "$uri" ] || uri="$( (cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    2>/dev/null || true) | awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2; exit}')"
  [ -n "$uri" ] || die "no Debian mirror found in apt's sources; set HARNESS_DEBIAN_MIRROR"
  echo "$uri"
}

build_debian() {
  have_image local/debian:bookworm && return
  command -v debootstrap >/dev/null 2>&1 || {
    say "installing debootstrap..."
    DEBIAN_FRONTEND=noninteractive apt_get install -y -qq debootstrap >/dev/null \
      || die "apt-get install debootstrap failed"
  }
  local mirror rootfs t0
  mirror="$(debian_mirror)"
  rootfs="$(mktemp -d)"
  t0="$(now)"
  say "debootstrap minbase bookworm from $mirror (about a minute)..."
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror" \
    >"$STATE/debootstrap.log" 2>&1 \
    || { rm -rf "$rootfs"; die "debootstrap failed; see $STATE/debootstrap.log"; }
  # builds inside containers reach the package registries through the same TLS as the host
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  fi
  chroot "$rootfs" update-ca-certificates >/dev/null
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
  tar -C "$rootfs" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' - local/debian:bookworm >/dev/null \
    || { rm -rf "$rootfs"; die "docker import of the debootstrap tree failed"; }
  rm -rf "$rootfs"
  say "local/debian:bookworm in $(( $(now) - t0 )) s"
}

build_python() {
  have_image local/python:3.11-bookworm && return
  say "building local/python:3.11-bookworm (Debian's python3 and a venv)..."
  local ctx; ctx="$(mktemp -d)"
  cat > "$ctx/Dockerfile" <<'EOF'
FROM local/debian:bookworm
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv
# Debian's pip refuses system installs: the venv is the image's Python, as in python:*-slim
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
EOF
  # the legacy builder: the docker CLI may have no buildx plugin for BuildKit
  DOCKER_BUILDKIT=0 docker build -t local/python:3.11-bookworm "$ctx" >"$STATE/build-python.log" 2>&1 \
    || { rm -rf "$ctx"; die "building local/python:3.11-bookworm failed; see $STATE/build-python.log"; }
  rm -rf "$ctx"
}

build_golang() {
  have_image local/golang:bookworm && return
  command -v go >/dev/null 2>&1 || die "no Go toolchain on the host to put in local/golang"
  say "building local/golang:bookworm (the host's Go $(go env GOVERSION))..."
  local ctx; ctx="$(mktemp -d)"
  cp -a "$(go env GOROOT)" "$ctx/go"
  rm -rf "$ctx/go/pkg/obj" "$ctx/go/test" "$ctx/go/doc"
  cat > "$ctx/Dockerfile" <<'EOF'
FROM local/debian:bookworm
COPY go /usr/local/go
ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    GOPATH=/go GOTOOLCHAIN=local
WORKDIR /go
EOF
  # the legacy builder: the docker CLI may have no buildx plugin for BuildKit
  DOCKER_BUILDKIT=0 docker build -t local/golang:bookworm "$ctx" >"$STATE/build-golang.log" 2>&1 \
    || { rm -rf "$ctx"; die "building local/golang:bookworm failed; see $STATE/build-golang.log"; }
  rm -rf "$ctx"
}

build_toxiproxy() {
  have_image local/toxiproxy:2.12.0 && return
  command -v go >/dev/null 2>&1 || die "no Go toolchain to build toxiproxy-server"
  say "building local/toxiproxy:2.12.0 (static toxiproxy-server in a scratch image)..."
  local ctx; ctx="$(mktemp -d)"
  CGO_ENABLED=0 GOBIN="$ctx" go install -trimpath \
    "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" \
    || { rm -rf "$ctx"; die "go install toxiproxy $TOXIPROXY_VERSION failed"; }
  mv "$ctx/server" "$ctx/toxiproxy"
  cat > "$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY toxiproxy /toxiproxy
EXPOSE 8474
ENTRYPOINT ["/toxiproxy"]
CMD ["-host=0.0.0.0"]
EOF
  # the legacy builder: the docker CLI may have no buildx plugin for BuildKit
  DOCKER_BUILDKIT=0 docker build -t local/toxiproxy:2.12.0 "$ctx" >"$STATE/build-toxiproxy.log" 2>&1 \
    || { rm -rf "$ctx"; die "building local/toxiproxy:2.12.0 failed; see $STATE/build-toxiproxy.log"; }
  rm -rf "$ctx"
}

prepare_images() {
  mkdir -p "$STATE"
  if can_pull "$OFFICIAL_PYTHON" && can_pull "$OFFICIAL_GO" && can_pull "$OFFICIAL_TOXIPROXY"
  then
    say "official images available: no local stand-ins needed"
    : > "$ENVFILE"
    return
  fi
  say "official images cannot be pulled here: using local stand-ins"
  build_debian
  build_python
  build_golang
  build_toxiproxy
  cat > "$ENVFILE" <<EOF
HARNESS_PYTHON_IMAGE=local/python:3.11-bookworm
HARNESS_GO_IMAGE=local/golang:bookworm
HARNESS_TOXIPROXY_IMAGE=local/toxiproxy:2.12.0
EOF
  say "images: $(tr '\n' ' ' < "$ENVFILE")(in $ENVFILE)"
}

up() {
  local t0 compose_pid=""; t0="$(now)"
  start_engine
  mkdir -p "$STATE"
  if compose_works; then
    say "compose: $(docker compose version 2>/dev/null)"
  else
    # a cold Compose build is CPU (go build), the images mostly network and dpkg: overlap them
    say "Compose v2 missing: installing it in the background (log: $STATE/compose-build.log)"
    install_compose > "$STATE/compose-build.log" 2>&1 &
    compose_pid=$!
  fi
  prepare_images
  if [ -n "$compose_pid" ]; then
    wait "$compose_pid" || die "installing Compose failed; last lines of $STATE/compose-build.log:
$(tail -n 15 "$STATE/compose-build.log")"
    grep '^docker-engine:' "$STATE/compose-build.log" >&2 || true
  fi
  say "ready in $(( $(now) - t0 )) s"
}

case "${1:-up}" in
  up) up ;;
  stop) stop_engine ;;
  status)
    if engine_answers; then echo "engine: answers"; else echo "engine: none"; fi
    if pid="$(our_dockerd_pid)"; then echo "dockerd started by this script: pid $pid"; fi
    if compose_works; then docker compose version; else echo "compose: none"; fi
    [ -f "$ENVFILE" ] && cat "$ENVFILE" ;;
  *) die "usage: $0 [up|stop|status]" ;;
esac
