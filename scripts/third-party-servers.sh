#!/usr/bin/env bash
# Third-party servers the fault-client tests run against (real software we did not write):
# nginx and redis-server from Debian's packages (also the servers of scenarios/examples/;
# the examples' gunicorn is a PyPI package of the dev extras). Idempotent: installs only what is missing,
# and never starts their system services (the tests run them as their own children on
# 127.0.0.1 with generated configs).
#
#   scripts/third-party-servers.sh     # install nginx and redis-server when missing
#
# Without root or apt-get it says so and exits 0: the tests that need a binary then skip
# with that reason.
set -euo pipefail

missing=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v redis-server >/dev/null 2>&1 || [[ -x /usr/bin/redis-server ]] || missing+=(redis-server)

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "third-party servers: nginx and redis-server already installed"
    exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "third-party servers: cannot install ${missing[*]} (needs root and apt-get):" \
         "the fault-client tests against them will skip"
    exit 0
fi

echo "third-party servers: installing ${missing[*]} from Debian's packages..."
# A policy-rc.d that says "no" keeps the packages' postinst from starting their services.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    own_policy=1
fi
cleanup() { if [[ $own_policy == 1 ]]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# shellcheck source=scripts/_apt.sh
. "$(dirname "$0")/_apt.sh"
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "third-party servers: installed ${missing[*]}"
