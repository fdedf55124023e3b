#!/bin/sh
# Debian's redis-server as a soak target, one process in the foreground on 127.0.0.1:PORT.
#
#   serve.sh PORT leaky|fixed
#
# leaky: timeout 0 (redis's default: an idle client is never closed);
# fixed: timeout 2 (idle clients are closed 3-4 s after their last byte: redis compares
# whole seconds, idle > 2).
# No persistence; the working folder is $HARNESS_RUN_ID/redis (the run folder, when the
# harness starts us) or a new temp folder.
set -eu
port=${1:?usage: serve.sh PORT leaky|fixed}
variant=${2:-leaky}
case "$variant" in
    leaky) timeout=0 ;;
    fixed) timeout=2 ;;
    *) echo "serve.sh: variant must be leaky or fixed, not '$variant'" >&2; exit 2 ;;
esac
redis=$(command -v redis-server || echo /usr/bin/redis-server)
if [ -n "${HARNESS_RUN_ID:-}" ]; then dir=$HARNESS_RUN_ID/redis; else dir=$(mktemp -d); fi
mkdir -p "$dir"
echo "serve.sh: redis-server ($variant: timeout $timeout) on 127.0.0.1:$port, folder $dir"
exec "$redis" --port "$port" --bind 127.0.0.1 --timeout "$timeout" --save "" \
    --appendonly no --daemonize no --dir "$dir"
