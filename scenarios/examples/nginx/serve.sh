#!/bin/sh
# Debian's nginx as a soak target: master + 2 workers in the foreground on 127.0.0.1:PORT.
#
#   serve.sh PORT leaky|fixed [HOST]
#
# HOST: the address to listen on (default 127.0.0.1; a target in its own network namespace
# passes "{host}", which renders as 0.0.0.0 there).
# leaky: client_header_timeout and keepalive_timeout 3600s (a client that stops mid-request
#        is held by a worker for an hour);
# fixed: both 2s.
# The config, pid file, logs and temp folders go to $HARNESS_RUN_ID/nginx (the run folder,
# when the harness starts us) or a new temp folder; then we exec nginx, so the harness's PID
# is the master and the connections are held by its workers (children).
set -eu
port=${1:?usage: serve.sh PORT leaky|fixed [HOST]}
variant=${2:-leaky}
host=${3:-127.0.0.1}
case "$variant" in
    leaky) timeout=3600s ;;
    fixed) timeout=2s ;;
    *) echo "serve.sh: variant must be leaky or fixed, not '$variant'" >&2; exit 2 ;;
esac
nginx=$(command -v nginx || echo /usr/sbin/nginx)
if [ -n "${HARNESS_RUN_ID:-}" ]; then dir=$HARNESS_RUN_ID/nginx; else dir=$(mktemp -d); fi
mkdir -p "$dir/tmp" "$dir/www"
echo '<p>hello from nginx</p>' > "$dir/www/index.html"
user=""
# as root the workers would run as nobody and could not read a private temp folder
if [ "$(id -u)" = 0 ]; then user="user root;"; fi
cat > "$dir/nginx.conf" <<CONF
$user
daemon off;
master_process on;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen $host:$port;
        root $dir/www;
        client_header_timeout $timeout;
        keepalive_timeout $timeout;
    }
}
CONF
echo "serve.sh: nginx ($variant: header/keep-alive timeout $timeout) on $host:$port, config $dir/nginx.conf"
exec "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
