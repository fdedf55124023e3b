#!/usr/bin/env bash
# A real one-node Kubernetes on this machine, in a network namespace of its own, for the
# chart's e2e suite (docs/kubernetes.md). Idempotent: every step first checks whether it is
# needed, so a warm `up` of a running cluster takes a second and a warm cold-start ~10 s.
#
#   scripts/kube-cluster.sh up       build what is missing, start the cluster, print KUBECONFIG
#   scripts/kube-cluster.sh images   build the harness + toxiproxy images with Docker and
#                                    import them into the cluster's containerd (when changed)
#   scripts/kube-cluster.sh stop     stop everything THIS script started; remove its network
#                                    namespace, veth, mounts and cgroups
#   scripts/kube-cluster.sh status   say what runs
#   scripts/kube-cluster.sh check-clean   exit 1 listing whatever of the cluster is left
#   scripts/kube-cluster.sh kubeconfig    print the kubeconfig's path
#   scripts/kube-cluster.sh recycle-volumes   make Released local volumes Available again
#                                    (wiping their data)
#
# What `up` does, each step only when needed:
#   1. packages (root + apt-get): Debian's etcd-server, containerd, runc,
#      containernetworking-plugins, conntrack, iptables, gcc (for the pause binary).
#   2. binaries, kept under $HARNESS_TOOLS_DIR/kube/<version>/ (default <repo>/.tools): the
#      Kubernetes components built from the k8s.io/kubernetes Go module (its go.mod rewritten:
#      ~15 min cold on 2 cores), a slim CoreDNS, the static pause image (a docker-archive tar).
#   3. a network namespace $NAME (prefix soak-kube) with a veth to the host (node address
#      10.213.X.2, host side .1): the API server is reached from the host there; pods get
#      10.244.0.0/24 on a CNI bridge, services 10.96.0.0/16, all inside the namespace.
#   4. etcd, containerd (own root/state/socket, restrict_oom_score_adj), kube-apiserver,
#      kube-controller-manager, kube-scheduler, kubelet (cgroupfs, cgroupRoot /$NAME created in
#      every cgroup hierarchy; --containerd names containerd's own socket, else the kubelet's
#      cAdvisor labels no container and /metrics/cadvisor has pod-level series only),
#      kube-proxy (iptables), CoreDNS (host process behind the
#      kube-dns Service): each started inside the namespace with `nsenter --net` (not
#      `ip netns exec`: it remounts /sys and runc then finds no cgroup mount).
#      The kubelet changes a few host-wide kernel settings (vm.overcommit_memory, kernel.panic,
#      ...): their values before are saved and `stop` puts them back.
#   5. a pool of hostPath PersistentVolumes without a storage class (the chart's claim binds
#      one), node Ready, CoreDNS ready. The cluster starts empty on every cold `up`.
#
# Settings: HARNESS_KUBE_STATE (state: pki, configs, logs, data; default
# <repo>/.tools/kube/state), HARNESS_KUBE_NAME (default soak-kube-<hash of the state dir>, so
# two checkouts run two clusters side by side), HARNESS_TOOLS_DIR, KUBE_VERSION (v1.32.13).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/_apt.sh
. "$REPO/scripts/_apt.sh"
TOOLS="${HARNESS_TOOLS_DIR:-$REPO/.tools}"
# versions: what gets built (binaries are kept per Kubernetes version)
KUBE_VERSION="${KUBE_VERSION:-v1.32.13}"
COREDNS_VERSION="v1.12.1"
PAUSE_IMAGE="registry.k8s.io/pause:3.10"     # the name containerd's CRI expects
KBIN="$TOOLS/kube/$KUBE_VERSION/bin"
KIMG="$TOOLS/kube/$KUBE_VERSION/images"
KUBE_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
STATE="${HARNESS_KUBE_STATE:-$REPO/.tools/kube/state}"
mkdir -p "$STATE" && STATE="$(cd "$STATE" && pwd)"
HASH="$(printf '%s' "$STATE" | sha1sum | cut -c1-6)"
NAME="${HARNESS_KUBE_NAME:-soak-kube-$HASH}"
case "$NAME" in soak-kube*) ;; *) NAME="soak-kube-$NAME" ;; esac
NETNS="/var/run/netns/$NAME"
RUN="/run/$NAME"                       # sockets (short paths), containerd state
VETH="sk$(printf '%s' "$NAME" | sha1sum | cut -c1-8)"   # host side (<= 15 chars)
CGROOT="/$NAME"
NODE="$NAME"
KUBECONFIG_FILE="$STATE/kubeconfig"
SERVICE_CIDR=10.96.0.0/16
DNS_IP=10.96.0.10
POD_CIDR=10.244.0.0/24
CLUSTER_CIDR=10.244.0.0/16
PV_COUNT=6
LOGS="$STATE/logs"
PIDS="$STATE/pids"
CTR=(ctr --address "$RUN/containerd.sock" -n k8s.io)
DAEMONS=(etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy coredns)

say() { printf 'kube-cluster: %s\n' "$*" >&2; }
die() { printf 'kube-cluster: ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }
in_ns() { nsenter --net="$NETNS" -- "$@"; }
kctl() { "$KBIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# node address: 10.213.X.0/30, X from the name, moved on while the subnet is in use
node_subnet() {
  if [ -f "$STATE/subnet" ]; then cat "$STATE/subnet"; return; fi
  local x i
  x=$(( 0x$(printf '%s' "$NAME" | sha1sum | cut -c1-2) ))
  for i in $(seq 0 255); do
    local s=$(( (x + i) % 256 ))
    if ! ip -4 route show | grep -q "^10\.213\.$s\."; then
      echo "10.213.$s" > "$STATE/subnet"; echo "10.213.$s"; return
    fi
  done
  die "no free 10.213.X.0/30 subnet for the node's veth"
}

need_go() {
  command -v go >/dev/null 2>&1 || die "no Go toolchain to build Kubernetes $KUBE_VERSION \
(install Go >= 1.23, or put prebuilt binaries in $KBIN)"
}

# Kubernetes from its Go module: `go install k8s.io/kubernetes/cmd/...` is refused (replace
# directives to ./staging, which the module zip does not contain), so build from a writable
# copy whose go.mod points every staging module at its published version.
build_kubernetes() {
  local missing=() b
  for b in "${KUBE_BINARIES[@]}"; do [ -x "$KBIN/$b" ] || missing+=("$b"); done
  [ ${#missing[@]} -eq 0 ] && return
  need_go
  local t0 dir src minor staging
  t0="$(now)"
  say "building Kubernetes $KUBE_VERSION (${missing[*]}) from its Go module: ~15 min cold on 2 cores..."
  dir="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" \
         | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')" \
    || die "go mod download k8s.io/kubernetes@$KUBE_VERSION failed"
  [ -d "$dir" ] || die "go mod download gave no module directory for k8s.io/kubernetes"
  staging="v0.${KUBE_VERSION#v1.}"
  mkdir -p "$TOOLS/kube"
  src="$(mktemp -d "$TOOLS/kube/src.XXXXXX")"
  cp -a "$dir/." "$src/" && chmod -R u+w "$src"
  rm -rf "$src/vendor" "$src"/go.work*
  # staging modules -> their published versions; the sample-* modules are not served;
  # k8s.io/endpointslice's latest zip is refused by the proxy: the previous patch release
  sed -i -e "s#=> ./staging/src/\(k8s.io/[a-z0-9-]*\)\$#=> \1 $staging#" \
         -e '/k8s\.io\/sample-/d' "$src/go.mod"
  local prev="v0.${KUBE_VERSION#v1.}"; prev="${prev%.*}.$(( ${prev##*.} - 1 ))"
  sed -i -e "s#=> k8s.io/endpointslice $staging#=> k8s.io/endpointslice $prev#" "$src/go.mod"
  minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local ld="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$KBIN"
  local pkgs=()
  for b in "${missing[@]}"; do pkgs+=("./cmd/$b"); done
  local out="$src/out"
  mkdir -p "$out"
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w$ld" \
      -o "$out/" "${pkgs[@]}") \
    || { rm -rf "$src"; die "go build of Kubernetes $KUBE_VERSION failed (see above)"; }
  for b in "${missing[@]}"; do mv "$out/$b" "$KBIN/$b"; done
  rm -rf "$src"
  say "Kubernetes binaries built in $(( $(now) - t0 )) s: $KBIN"
}

# A slim CoreDNS (only the plugins a cluster-internal resolver needs), as a wrapper module.
build_coredns() {
  [ -x "$KBIN/coredns-$COREDNS_VERSION" ] && return
  need_go
  local t0 src; t0="$(now)"
  say "building a slim CoreDNS $COREDNS_VERSION (errors, health, ready, kubernetes, cache)..."
  mkdir -p "$TOOLS/kube" "$KBIN"
  src="$(mktemp -d "$TOOLS/kube/src.XXXXXX")"
  cat > "$src/go.mod" <<EOF
module soakharness/coredns

go 1.23.0

require github.com/coredns/coredns $COREDNS_VERSION
EOF
  cat > "$src/main.go" <<'EOF'
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

// the order plugins run in (a subset of CoreDNS's plugin.cfg, in its order)
var directives = []string{"ready", "health", "errors", "cache", "kubernetes"}

func init() { dnsserver.Directives = directives }

func main() { coremain.Run() }
EOF
  (cd "$src" && go mod tidy >/dev/null 2>&1 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
      -o "$KBIN/coredns-$COREDNS_VERSION.tmp" .) \
    || { rm -rf "$src"; die "building CoreDNS $COREDNS_VERSION failed (see above)"; }
  mv "$KBIN/coredns-$COREDNS_VERSION.tmp" "$KBIN/coredns-$COREDNS_VERSION"
  rm -rf "$src"
  say "CoreDNS built in $(( $(now) - t0 )) s"
}

# The sandbox ("pause") image cannot be pulled: Kubernetes' own pause.c, static, in a
# one-file image written by hand as a docker-archive tar (what `ctr images import` reads).
build_pause() {
  [ -f "$KIMG/pause.tar" ] && return
  local dir src; dir="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" 2>/dev/null \
         | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  src="$dir/build/pause/linux/pause.c"
  [ -f "$src" ] || die "no $src (go mod download k8s.io/kubernetes@$KUBE_VERSION failed?)"
  command -v cc >/dev/null 2>&1 || die "no C compiler for the pause binary (apt-get install gcc libc6-dev)"
  local tmp; tmp="$(mktemp -d)"
  cc -Os -static -DVERSION=3.10 -o "$tmp/pause" "$src" && strip "$tmp/pause" \
    || { rm -rf "$tmp"; die "compiling pause.c (static) failed: is libc6-dev installed?"; }
  mkdir -p "$KIMG"
  python3 - "$tmp" "$PAUSE_IMAGE" <<'PY' || { rm -rf "$tmp"; die "writing the pause image failed"; }
import hashlib, io, json, os, sys, tarfile
tmp, ref = sys.argv[1], sys.argv[2]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.USTAR_FORMAT) as t:
    info = t.gettarinfo(os.path.join(tmp, "pause"), arcname="pause")
    info.uid = info.gid = 0; info.uname = info.gname = ""; info.mtime = 0; info.mode = 0o755
    with open(os.path.join(tmp, "pause"), "rb") as f:
        t.addfile(info, f)
layer_bytes = layer.getvalue()
diff_id = hashlib.sha256(layer_bytes).hexdigest()
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
    "history": [{"created_by": "kube-cluster.sh: static pause.c"}],
}).encode()
config_id = hashlib.sha256(config).hexdigest()
manifest = json.dumps([{"Config": config_id + ".json", "RepoTags": [ref],
                        "Layers": [diff_id + "/layer.tar"]}]).encode()
with tarfile.open(os.path.join(tmp, "pause.tar"), "w", format=tarfile.USTAR_FORMAT) as out:
    for name, data in ((diff_id + "/layer.tar", layer_bytes),
                       (config_id + ".json", config), ("manifest.json", manifest)):
        ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = 0o644
        out.addfile(ti, io.BytesIO(data))
PY
  mv "$tmp/pause.tar" "$KIMG/pause.tar"
  rm -rf "$tmp"
  say "pause image: $KIMG/pause.tar ($PAUSE_IMAGE)"
}

# ------------------------------------------------------------------------------ packages
PACKAGES=(etcd-server:etcd containerd:containerd runc:runc
          containernetworking-plugins:/usr/lib/cni/bridge conntrack:conntrack
          iptables:iptables gcc:cc libc6-dev:/usr/lib/x86_64-linux-gnu/libc.a
          openssl:openssl)
install_packages() {
  local missing=() p pkg what
  for p in "${PACKAGES[@]}"; do
    pkg="${p%%:*}"; what="${p#*:}"
    if [[ "$what" == /* ]]; then [ -e "$what" ] || missing+=("$pkg")
    else command -v "$what" >/dev/null 2>&1 || missing+=("$pkg"); fi
  done
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]} and I am not root: install them, then run me again"
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and there is no apt-get: install them by hand"
  say "installing Debian's ${missing[*]}..."
  # a package's own service (etcd's) must not start: only what this script starts runs
  local policy=/usr/sbin/policy-rc.d made=""
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; made=1; fi
  { apt_get update -qq && DEBIAN_FRONTEND=noninteractive apt_get install -y -qq \
      --no-install-recommends "${missing[@]}" >/dev/null; } \
    || { [ -z "$made" ] || rm -f "$policy"; die "apt-get install ${missing[*]} failed"; }
  [ -z "$made" ] || rm -f "$policy"
}

# ------------------------------------------------------------------------------ processes
pid_of() {  # pid_of DAEMON: its pid while the recorded process still runs that binary
  local f="$PIDS/$1.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && [ -e "/proc/$pid/exe" ] || return 1
  [ "$(readlink "/proc/$pid/exe")" = "$(cat "$PIDS/$1.exe" 2>/dev/null)" ] || return 1
  echo "$pid"
}

start_daemon() {  # start_daemon NAME BINARY ARGS...: in the namespace, own session, logged
  local name=$1 bin=$2; shift 2
  if pid_of "$name" >/dev/null; then return; fi
  mkdir -p "$PIDS" "$LOGS"
  local exe; exe="$(readlink -f "$(command -v "$bin")")"
  echo "$exe" > "$PIDS/$name.exe"
  # setsid: outlives this script, not in make's process group; nsenter execs the daemon
  setsid nsenter --net="$NETNS" -- "$exe" "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  local pid=$! i
  echo "$pid" > "$PIDS/$name.pid"
  # the exec chain (setsid -> nsenter -> daemon) takes a moment
  for i in $(seq 1 20); do
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] && break
    sleep 0.05
  done
  say "started $name (pid $pid, log $LOGS/$name.log)"
}

wait_for() {  # wait_for WHAT SECONDS DAEMON CMD...: poll CMD; fail with DAEMON's log
  local what=$1 secs=$2 daemon=$3 i; shift 3
  for i in $(seq 1 $(( secs * 2 ))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [ -n "$daemon" ] && ! pid_of "$daemon" >/dev/null; then
      die "$daemon exited while waiting for $what; last lines of $LOGS/$daemon.log:
$(tail -n 20 "$LOGS/$daemon.log" 2>/dev/null)"
    fi
    sleep 0.5
  done
  die "$what not within ${secs} s; last lines of $LOGS/$daemon.log:
$(tail -n 20 "$LOGS/$daemon.log" 2>/dev/null)"
}

stop_daemon() {
  local name=$1 pid i
  pid="$(pid_of "$name")" || { rm -f "$PIDS/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 40); do
    [ -e "/proc/$pid" ] || break
    sleep 0.25
  done
  [ -e "/proc/$pid" ] && { say "$name (pid $pid) ignored SIGTERM for 10 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; }
  rm -f "$PIDS/$name.pid"
  say "stopped $name (pid $pid)"
}

# ------------------------------------------------------------------------------ network
setup_netns() {
  local sub; sub="$(node_subnet)"
  NODE_IP="$sub.2"; HOST_IP="$sub.1"
  if [ ! -e "$NETNS" ]; then
    ip netns add "$NAME" || die "ip netns add $NAME failed (are network namespaces allowed here?)"
    say "network namespace $NAME"
  fi
  if ! ip link show "$VETH" >/dev/null 2>&1; then
    ip link add "$VETH" type veth peer name eth0 netns "$NAME" \
      || die "creating the veth pair $VETH <-> $NAME/eth0 failed"
    ip addr add "$HOST_IP/30" dev "$VETH"
    ip link set "$VETH" up
    in_ns ip addr add "$NODE_IP/30" dev eth0
    in_ns ip link set eth0 up
    # nothing leaves the namespace but answers to the host: no default route out, no NAT
    say "veth $VETH ($HOST_IP) <-> $NAME/eth0 ($NODE_IP)"
  fi
  in_ns ip link set lo up
  in_ns sysctl -qw net.ipv4.ip_forward=1
  in_ns sysctl -qw net.ipv4.conf.all.route_localnet=1
  # pod -> service -> pod on the same bridge must pass iptables (per-namespace where the
  # kernel has it; kube-proxy's masqueradeAll covers the rest)
  in_ns sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
}

# ------------------------------------------------------------------------------ pki/config
make_pki() {
  local pki="$STATE/pki"
  if [ -f "$pki/admin.crt" ] && [ "$(cat "$pki/node-ip" 2>/dev/null)" = "$NODE_IP" ]; then return; fi
  say "certificates (CA, API server, admin, service-account keys)"
  rm -rf "$pki"; mkdir -p "$pki"; chmod 700 "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=soak-kube-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:%s,IP:10.96.0.1,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
      "$NODE_IP" > apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out apiserver.crt -days 3650 -extfile apiserver.ext 2>/dev/null
    # one client identity for the components and the user: system:masters
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr \
      -subj "/O=system:masters/CN=soak-admin" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out admin.crt -days 3650 -extfile client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr ./*.ext
  ) || die "generating certificates with openssl failed"
  echo "$NODE_IP" > "$pki/node-ip"
}

put() {  # put FILE < CONTENT: replace FILE only when the content changed (kube-proxy exits
         # when its configuration file changes, and the others would read a half-written one)
  cat > "$1.tmp"
  if cmp -s "$1.tmp" "$1"; then rm -f "$1.tmp"; else mv "$1.tmp" "$1"; CHANGED+=" ${1##*/}"; fi
}
CHANGED=""

write_configs() {
  local pki="$STATE/pki" b64
  b64() { base64 -w0 < "$1"; }
  umask 077
  put "$KUBECONFIG_FILE" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: $NAME
  cluster:
    server: https://$NODE_IP:6443
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: soak-admin
  user:
    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")
contexts:
- name: $NAME
  context: {cluster: $NAME, user: soak-admin}
current-context: $NAME
YAML
  umask 022
  mkdir -p "$STATE/conf" "$STATE/cni/net.d" "$STATE/cni/ipam" "$RUN"
  put "$STATE/conf/containerd.toml" <<TOML
version = 2
root = "$STATE/containerd"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$RUN/containerd.sock"
[ttrpc]
  address = "$RUN/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # no CAP_SYS_RESOURCE here: otherwise every sandbox fails ("can't get final child's PID")
  restrict_oom_score_adj = true
  # sandboxes' network namespaces under $RUN, so stop finds and removes them all
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
TOML
  put "$STATE/cni/net.d/10-soak.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "soak",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam",
              "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  put "$STATE/conf/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: $CGROOT
cgroupsPerQOS: true
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
containerRuntimeEndpoint: unix://$RUN/containerd.sock
failSwapOn: false
failCgroupV1: false
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
resolvConf: $STATE/conf/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
registerNode: true
YAML
  # pods resolve through the cluster DNS only (nothing outside is reachable anyway)
  printf 'nameserver %s\n' "$DNS_IP" | put "$STATE/conf/resolv.conf"
  put "$STATE/conf/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $KUBECONFIG_FILE}
mode: iptables
clusterCIDR: $CLUSTER_CIDR
hostnameOverride: $NODE
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables: {masqueradeAll: true}
nodePortAddresses: [primary]
# leave the conntrack sysctls alone (global ones need CAP_SYS_RESOURCE-like rights)
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
  put "$STATE/conf/Corefile" <<COREFILE
.:53 {
    errors
    health 127.0.0.1:8181
    ready 127.0.0.1:8182
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $KUBECONFIG_FILE $NAME
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
COREFILE
}

# ------------------------------------------------------------------------------ sysctls
# The kubelet sets these host-wide kernel settings to its defaults (vm.overcommit_memory=1,
# kernel.panic=10, kernel.panic_on_oops=1, ...): the values before are kept and put back by
# stop.
KERNEL_TUNABLES=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
                 kernel/keys/root_maxkeys kernel/keys/root_maxbytes)
save_sysctls() {
  [ -f "$STATE/sysctl.saved" ] && return
  local k
  for k in "${KERNEL_TUNABLES[@]}"; do echo "$k $(cat "/proc/sys/$k")"; done > "$STATE/sysctl.saved.tmp"
  mv "$STATE/sysctl.saved.tmp" "$STATE/sysctl.saved"
}
restore_sysctls() {
  [ -f "$STATE/sysctl.saved" ] || return 0
  local k v bad=""
  while read -r k v; do
    [ "$(cat "/proc/sys/$k")" = "$v" ] || echo "$v" > "/proc/sys/$k" || bad+=" $k"
  done < "$STATE/sysctl.saved"
  [ -z "$bad" ] || { say "could not restore:$bad (kept in $STATE/sysctl.saved)"; return 1; }
  rm -f "$STATE/sysctl.saved"
  say "kernel settings the kubelet changed are back to their values before (${KERNEL_TUNABLES[*]})"
}

# ------------------------------------------------------------------------------ cgroups
cgroup_dirs() {  # every mounted cgroup hierarchy (v1 controllers, name=systemd, v2)
  awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts | sort -u
}

make_cgroups() {
  local d
  for d in $(cgroup_dirs); do
    [ -d "$d$CGROOT" ] && continue
    mkdir "$d$CGROOT" || die "mkdir $d$CGROOT failed"
    if [ -f "$d/cpuset.cpus" ]; then
      cat "$d/cpuset.cpus" > "$d$CGROOT/cpuset.cpus"
      cat "$d/cpuset.mems" > "$d$CGROOT/cpuset.mems"
    fi
    if [ -f "$d/cgroup.subtree_control" ] && [ -f "$d$CGROOT/cgroup.subtree_control" ]; then
      local c; for c in $(cat "$d/cgroup.controllers"); do
        echo "+$c" > "$d$CGROOT/cgroup.subtree_control" 2>/dev/null || true
      done
    fi
  done
}

remove_cgroups() {
  local d sub
  for d in $(cgroup_dirs); do
    [ -d "$d$CGROOT" ] || continue
    # deepest first
    while IFS= read -r sub; do rmdir "$sub" 2>/dev/null || true; done \
      < <(find "$d$CGROOT" -depth -type d)
  done
}

cgroup_pids() {  # every process in our cgroup tree, any hierarchy
  local d
  for d in $(cgroup_dirs); do
    [ -d "$d$CGROOT" ] || continue
    find "$d$CGROOT" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -u
}

netns_pids() {  # every process whose network namespace is ours
  [ -e "$NETNS" ] || return 0
  local ino p; ino="$(stat -L -c %i "$NETNS")"
  for p in /proc/[0-9]*; do
    [ "$(stat -L -c %i "$p/ns/net" 2>/dev/null)" = "$ino" ] && echo "${p#/proc/}"
  done
  return 0
}

our_mounts() {  # mount points under our dirs, deepest first
  awk '{print $5}' /proc/self/mountinfo \
    | grep -E "^($(printf '%s' "$STATE" | sed 's/[.[\*^$]/\\&/g')|$RUN)(/|$)" \
    | awk '{print length, $0}' | sort -rn | cut -d' ' -f2- || true
}

# ------------------------------------------------------------------------------ up
apiserver_ready() { kctl get --raw /readyz; }
node_ready() {
  [ "$(kctl get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
coredns_ready() { in_ns curl -fsS --max-time 2 http://127.0.0.1:8182/ready; }
containerd_answers() { "${CTR[@]}" version; }

fresh_data() {
  # a cold start starts an empty cluster: nothing of a previous one is restarted
  rm -rf --one-file-system "$STATE/etcd" "$STATE/cni/ipam" "$STATE/kubelet"
  if [ -d "$STATE/containerd" ]; then
    # images stay (re-imported only when changed), containers of a previous cluster go
    rm -rf "$STATE/containerd/io.containerd.grpc.v1.cri/sandboxes" \
           "$STATE/containerd/io.containerd.grpc.v1.cri/containers"
  fi
}

bootstrap_objects() {
  # kube-dns: a Service in front of the CoreDNS host process (the node address, port 53)
  kctl apply -f - >/dev/null <<YAML || die "creating the kube-dns Service failed"
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  clusterIP: $DNS_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: soak-kube-cluster
addressType: IPv4
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
endpoints:
- addresses: ["$NODE_IP"]
  conditions: {ready: true}
YAML
  # hostPath volumes without a storage class: a chart's claim binds one of them; the
  # directories are world-writable (hostPath gets no fsGroup) and wiped when recycled
  local i docs=""
  for i in $(seq 1 "$PV_COUNT"); do
    mkdir -p "$STATE/volumes/pv$i"; chmod 1777 "$STATE/volumes/pv$i"
    docs+="---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: local-pv$i
  labels: {soak-harness.dev/local-volume: \"true\"}
spec:
  capacity: {storage: 20Gi}
  accessModes: [ReadWriteOnce, ReadWriteMany, ReadOnlyMany]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: $STATE/volumes/pv$i, type: Directory}
"
  done
  printf '%s' "$docs" | kctl apply -f - >/dev/null || die "creating the local PersistentVolumes failed"
}

recycle_volumes() {
  [ -f "$KUBECONFIG_FILE" ] && pid_of kube-apiserver >/dev/null || return 0
  local pv path
  for pv in $(kctl get pv -l soak-harness.dev/local-volume=true \
      -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name}{"\n"}{end}'); do
    path="$(kctl get pv "$pv" -o jsonpath='{.spec.hostPath.path}')"
    case "$path" in "$STATE"/volumes/*) find "$path" -mindepth 1 -delete ;; *) continue ;; esac
    kctl patch pv "$pv" --type json -p '[{"op":"remove","path":"/spec/claimRef"}]' >/dev/null
    say "recycled $pv (Released -> Available, data wiped)"
  done
}

up() {
  local t0; t0="$(now)"
  [ "$(uname -s)" = Linux ] || die "a local cluster needs Linux"
  [ "$(id -u)" = 0 ] || die "a local cluster needs root (namespaces, cgroups, mounts)"
  install_packages
  build_coredns
  build_kubernetes
  build_pause
  for b in "${KUBE_BINARIES[@]}" "coredns-$COREDNS_VERSION"; do
    [ -x "$KBIN/$b" ] || die "$KBIN/$b missing after the build"
  done
  local cold=""
  pid_of etcd >/dev/null || cold=1
  setup_netns
  make_pki
  write_configs
  # a running daemon whose configuration changed (a newer script) is restarted with it
  local pair
  for pair in containerd.toml:containerd kubelet.yaml:kubelet kube-proxy.yaml:kube-proxy \
              Corefile:coredns; do
    if [[ " $CHANGED " == *" ${pair%%:*} "* ]] && pid_of "${pair#*:}" >/dev/null; then
      say "${pair%%:*} changed: restarting ${pair#*:}"
      stop_daemon "${pair#*:}"
    fi
  done
  make_cgroups
  if [ -n "$cold" ]; then
    # whatever a previous cluster left running is stopped first (a crash, a killed stop)
    sweep_leftovers quiet
    fresh_data
  fi
  mkdir -p "$STATE/etcd"
  start_daemon etcd etcd --name "$NAME" --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$NAME=http://127.0.0.1:2380" \
    --snapshot-count 10000 --log-level warn
  start_daemon containerd containerd --config "$STATE/conf/containerd.toml"
  wait_for "containerd" 30 containerd containerd_answers
  wait_for "etcd" 30 etcd in_ns curl -fsS --max-time 2 http://127.0.0.1:2379/health
  if ! "${CTR[@]}" images ls -q | grep -qx "$PAUSE_IMAGE"; then
    "${CTR[@]}" images import "$KIMG/pause.tar" >/dev/null || die "importing the pause image failed"
  fi
  local pki="$STATE/pki"
  start_daemon kube-apiserver "$KBIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 --bind-address=0.0.0.0 --secure-port=6443 \
    --advertise-address="$NODE_IP" --service-cluster-ip-range="$SERVICE_CIDR" \
    --client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/apiserver.crt" \
    --tls-private-key-file="$pki/apiserver.key" \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --kubelet-client-certificate="$pki/admin.crt" --kubelet-client-key="$pki/admin.key" \
    --kubelet-preferred-address-types=InternalIP --profiling=false --v=1
  wait_for "the API server" 90 kube-apiserver apiserver_ready
  start_daemon kube-controller-manager "$KBIN/kube-controller-manager" \
    --kubeconfig="$KUBECONFIG_FILE" --authentication-kubeconfig="$KUBECONFIG_FILE" \
    --authorization-kubeconfig="$KUBECONFIG_FILE" --leader-elect=false \
    --bind-address=127.0.0.1 --service-account-private-key-file="$pki/sa.key" \
    --root-ca-file="$pki/ca.crt" --cluster-signing-cert-file="$pki/ca.crt" \
    --cluster-signing-key-file="$pki/ca.key" --use-service-account-credentials=false \
    --cluster-cidr="$CLUSTER_CIDR" --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false --v=1
  start_daemon kube-scheduler "$KBIN/kube-scheduler" --kubeconfig="$KUBECONFIG_FILE" \
    --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --leader-elect=false --bind-address=127.0.0.1 --profiling=false --v=1
  mkdir -p "$STATE/kubelet"
  save_sysctls
  start_daemon kubelet "$KBIN/kubelet" --config="$STATE/conf/kubelet.yaml" \
    --kubeconfig="$KUBECONFIG_FILE" --root-dir="$STATE/kubelet" \
    --cert-dir="$STATE/kubelet/pki" --hostname-override="$NODE" --node-ip="$NODE_IP" \
    --containerd="$RUN/containerd.sock" --v=1
  start_daemon kube-proxy "$KBIN/kube-proxy" --config="$STATE/conf/kube-proxy.yaml" --v=1
  bootstrap_objects
  start_daemon coredns "$KBIN/coredns-$COREDNS_VERSION" -conf "$STATE/conf/Corefile"
  wait_for "node $NODE Ready" 120 kubelet node_ready
  wait_for "CoreDNS ready" 60 coredns coredns_ready
  # pods need their namespace's service account: the default one's is made by the controller
  wait_for "the default service account" 60 kube-controller-manager kctl -n default get serviceaccount default
  recycle_volumes
  say "cluster $NAME ready in $(( $(now) - t0 )) s (node $NODE_IP, Kubernetes $KUBE_VERSION)"
  say "KUBECONFIG=$KUBECONFIG_FILE"
  echo "$KUBECONFIG_FILE"
}

# ------------------------------------------------------------------------------ stop
kill_all() {  # kill_all SIGNAL PIDS...
  local sig=$1 p; shift
  for p in "$@"; do [ "$p" = "$$" ] || kill "-$sig" "$p" 2>/dev/null || true; done
}

# Pods first (through containerd, so their shims unmount rootfs), then the daemons in
# reverse order, then a sweep of whatever still lives in our namespace or cgroups.
sweep_leftovers() {
  local quiet="${1:-}" pids i
  for i in 1 2 3; do
    pids="$( { netns_pids; cgroup_pids; } | sort -u | grep -vx "$$" || true)"
    [ -z "$pids" ] && break
    [ -n "$quiet" ] || say "killing what is left in $NAME's namespace/cgroups: $(echo $pids)"
    # shellcheck disable=SC2086
    kill_all KILL $pids
    sleep 0.5
  done
  # shims of our containerd that outlived it
  for pids in $(pgrep -f -- "-address $RUN/containerd.sock" || true); do
    kill -KILL "$pids" 2>/dev/null || true
  done
  local m
  while IFS= read -r m; do
    [ -n "$m" ] || continue
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "could not unmount $m"
  done < <(our_mounts)
}

stop() {
  local t0; t0="$(now)"
  local d
  for d in coredns kube-proxy kubelet; do stop_daemon "$d"; done
  if pid_of containerd >/dev/null && containerd_answers >/dev/null 2>&1; then
    local id
    for id in $("${CTR[@]}" tasks ls -q 2>/dev/null); do
      "${CTR[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    sleep 0.5
    for id in $("${CTR[@]}" tasks ls -q 2>/dev/null); do
      "${CTR[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true
    done
    for id in $("${CTR[@]}" containers ls -q 2>/dev/null); do
      "${CTR[@]}" containers delete "$id" >/dev/null 2>&1 || true
    done
  fi
  for d in kube-scheduler kube-controller-manager kube-apiserver containerd etcd; do
    stop_daemon "$d"
  done
  sweep_leftovers
  if [ -e "$NETNS" ]; then ip netns delete "$NAME" || say "ip netns delete $NAME failed"; fi
  ip link show "$VETH" >/dev/null 2>&1 && ip link delete "$VETH"
  remove_cgroups
  pid_of kubelet >/dev/null || restore_sysctls || true
  rm -rf "$RUN" "$STATE/cni/ipam"
  say "stopped cluster $NAME in $(( $(now) - t0 )) s"
}

check_clean() {
  local left=() p d m
  for d in "${DAEMONS[@]}"; do
    p="$(pid_of "$d")" && left+=("process: $d (pid $p)")
  done
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    # every daemon of this cluster names its state or /run directory in its arguments (the
    # binaries are shared with other clusters: a binary alone says nothing)
    local cmd; cmd="$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" || continue
    if [[ "$cmd" == *"$STATE/"* || "$cmd" == *"$RUN/"* ]]; then
      left+=("process: ${p#/proc/} (${cmd:0:120})")
    fi
  done
  [ -e "$NETNS" ] && left+=("network namespace: $NAME")
  ip netns list 2>/dev/null | grep -q "^$NAME\b" && left+=("network namespace (listed): $NAME")
  ip link show "$VETH" >/dev/null 2>&1 && left+=("veth: $VETH")
  while IFS= read -r m; do [ -n "$m" ] && left+=("mount: $m"); done < <(our_mounts)
  for d in $(cgroup_dirs); do [ -d "$d$CGROOT" ] && left+=("cgroup: $d$CGROOT"); done
  [ -e "$RUN" ] && left+=("runtime dir: $RUN")
  [ -f "$STATE/sysctl.saved" ] && left+=("kernel settings not restored: see $STATE/sysctl.saved")
  if [ ${#left[@]} -gt 0 ]; then
    printf 'kube-cluster: left behind by cluster %s:\n' "$NAME" >&2
    printf '  %s\n' "${left[@]}" >&2
    return 1
  fi
  say "nothing of cluster $NAME is left (no process, namespace, veth, mount or cgroup)"
}

status() {
  local d p
  echo "cluster $NAME (state $STATE, Kubernetes $KUBE_VERSION)"
  for d in "${DAEMONS[@]}"; do
    if p="$(pid_of "$d")"; then echo "  $d: pid $p"; else echo "  $d: not running"; fi
  done
  [ -e "$NETNS" ] && echo "  network namespace: $NAME" || echo "  network namespace: none"
  if pid_of kube-apiserver >/dev/null; then
    kctl get nodes -o wide 2>&1 | sed 's/^/  /'
    echo "  KUBECONFIG=$KUBECONFIG_FILE"
  fi
}

# ------------------------------------------------------------------------------ images
# The harness image (the repository's Dockerfile) and Toxiproxy, built with Docker
# (scripts/docker-engine.sh gives an engine and local base images where no registry answers)
# and imported into the cluster's containerd under the names the chart's default values use,
# so `helm install` works with pullPolicy IfNotPresent. Re-imported only when the image ID
# changed.
chart_images() {  # the images the chart's default values render
  local helm="${HELM:-$TOOLS/bin/helm}"
  [ -x "$helm" ] || helm="$REPO/.tools/bin/helm"
  [ -x "$helm" ] || die "no helm at $helm (scripts/validate-deploy.sh --install-helm builds it)"
  local out
  out="$("$helm" template soak "$REPO/charts/soak-harness" --kube-version "$KUBE_VERSION")" \
    || die "helm template of the chart's default values failed"
  printf '%s\n' "$out" | sed -n 's/^ *image: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' | sort -u
}

import_image() {  # import_image SOURCE_DOCKER_REF CLUSTER_REF
  local src=$1 ref=$2 id stamp
  id="$(docker image inspect -f '{{.Id}}' "$src")" || die "no Docker image $src"
  stamp="$STATE/images/$(printf '%s' "$ref" | tr '/:' '__').id"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$id" ] \
     && "${CTR[@]}" images ls -q | grep -qx "$(normalize_ref "$ref")"; then
    say "image $ref: unchanged ($id)"
    return
  fi
  local t0; t0="$(now)"
  [ "$src" = "$ref" ] || docker tag "$src" "$ref"
  mkdir -p "$STATE/images"
  docker save "$ref" | "${CTR[@]}" images import - >/dev/null \
    || die "importing $ref into the cluster's containerd failed"
  echo "$id" > "$stamp"
  say "image $ref imported in $(( $(now) - t0 )) s ($id)"
}

normalize_ref() {  # containerd's full name of a Docker-style reference
  local ref=$1 first="${1%%/*}"
  if [[ "$ref" != */* ]]; then ref="docker.io/library/$ref"
  elif [[ "$first" != *.* && "$first" != *:* && "$first" != localhost ]]; then ref="docker.io/$ref"; fi
  echo "$ref"
}

images() {
  pid_of containerd >/dev/null && containerd_answers >/dev/null 2>&1 \
    || die "the cluster's containerd is not running: scripts/kube-cluster.sh up first"
  timeout 10 docker info >/dev/null 2>&1 \
    || die "no Docker engine answers: scripts/docker-engine.sh up first (it builds the images)"
  local envfile="$REPO/.tools/docker/images.env"
  [ -n "${HARNESS_DOCKER_STATE:-}" ] && envfile="$HARNESS_DOCKER_STATE/images.env"
  local py="" go="" tox="ghcr.io/shopify/toxiproxy:2.12.0"
  if [ -s "$envfile" ]; then
    py="$(sed -n 's/^HARNESS_PYTHON_IMAGE=//p' "$envfile")"
    go="$(sed -n 's/^HARNESS_GO_IMAGE=//p' "$envfile")"
    tox="$(sed -n 's/^HARNESS_TOXIPROXY_IMAGE=//p' "$envfile")"
  fi
  local ref refs
  refs="$(chart_images)" || exit 1
  [ -n "$refs" ] || die "the chart's default values render no image"
  for ref in $refs; do
    case "$ref" in
      *toxiproxy*)
        docker image inspect "$tox" >/dev/null 2>&1 \
          || die "no Toxiproxy image $tox in Docker (scripts/docker-engine.sh up builds it)"
        import_image "$tox" "$ref" ;;
      *)
        # the harness image: built from the repository (layer cache: seconds when unchanged)
        local t0 args=(); t0="$(now)"
        [ -z "$py" ] || args+=(--build-arg "PYTHON_IMAGE=$py")
        [ -z "$go" ] || args+=(--build-arg "GO_IMAGE=$go")
        mkdir -p "$STATE/logs"
        DOCKER_BUILDKIT=0 docker build -t "$ref" "${args[@]}" "$REPO" >"$STATE/logs/build-harness-image.log" 2>&1 \
          || die "building $ref from $REPO/Dockerfile failed; last lines of $STATE/logs/build-harness-image.log:
$(tail -n 15 "$STATE/logs/build-harness-image.log")"
        say "image $ref built in $(( $(now) - t0 )) s"
        import_image "$ref" "$ref" ;;
    esac
  done
}

# One command at a time per cluster: two `up`s at once (two test processes, a user and a
# test) would race on the same config files; the second waits for the first (up to 40 min:
# a cold build), then finds everything running and changes nothing. flock -o: the daemons
# `up` starts do not inherit the lock (they would hold it for the cluster's whole life).
case "${1:-}" in
  up|images|stop|recycle-volumes|build)
    if [ -z "${HARNESS_KUBE_LOCKED:-}" ]; then
      command -v flock >/dev/null || die "flock (util-linux) is not installed"
      export HARNESS_KUBE_LOCKED=1
      code=0; flock -o -E 75 -w 2400 "$STATE/.lock" "$0" "$@" || code=$?
      [ "$code" -ne 75 ] || die "another kube-cluster.sh command held $STATE/.lock for 40 min"
      exit "$code"
    fi ;;
esac

case "${1:-}" in
  up) up ;;
  images) images ;;
  stop) stop ;;
  status) status ;;
  check-clean) check_clean ;;
  kubeconfig) echo "$KUBECONFIG_FILE" ;;
  recycle-volumes) recycle_volumes ;;
  packages) install_packages ;;
  build) install_packages; build_coredns; build_kubernetes; build_pause ;;
  *) die "usage: $0 up|images|stop|status|check-clean|kubeconfig|recycle-volumes|packages|build" ;;
esac
