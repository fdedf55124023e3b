# Sourced by the scripts that install Debian packages (docker-engine.sh, kube-cluster.sh,
# third-party-servers.sh). `make setup-test` runs kube-cluster.sh and docker-engine.sh side
# by side: on a machine that has neither engine both reach apt-get at once, and the second
# died on apt's lock ("Could not get lock /var/lib/apt/lists/lock. It is held by process
# ..."). apt_get runs our apt-get calls one at a time (flock on APT_LOCK, waiting up to
# 15 min) and lets apt wait for anyone else's dpkg lock too (DPkg::Lock::Timeout).
APT_LOCK="${HARNESS_APT_LOCK:-/var/lock/soak-harness-apt.lock}"
APT_WAIT=900

apt_get() {
  if ! command -v flock >/dev/null 2>&1; then
    apt-get -o DPkg::Lock::Timeout="$APT_WAIT" "$@"
    return
  fi
  local rc=0
  flock -w "$APT_WAIT" -E 75 "$APT_LOCK" apt-get -o DPkg::Lock::Timeout="$APT_WAIT" "$@" || rc=$?
  if [ "$rc" = 75 ]; then
    echo "apt_get: another of our apt-get runs held $APT_LOCK for ${APT_WAIT}s" \
         "(see: fuser -v $APT_LOCK)" >&2
  fi
  return "$rc"
}
