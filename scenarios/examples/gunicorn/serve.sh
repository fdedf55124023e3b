#!/bin/sh
# gunicorn (PyPI) as a soak target, started the way many start scripts do: this shell stays
# the parent (no exec), gunicorn's master is its child and the workers are grandchildren.
#
#   serve.sh PORT leaky|fixed
#
# Two gthread workers (4 threads each) serve app.py on 127.0.0.1:PORT.
# leaky: --keep-alive 3600 (an idle keep-alive connection is kept for an hour, up to
#        worker_connections per worker);
# fixed: --keep-alive 2 (gunicorn's default).
# gunicorn must be on PATH (`pip install gunicorn`, or the harness's .venv/bin on PATH).
set -eu
port=${1:?usage: serve.sh PORT leaky|fixed}
variant=${2:-leaky}
case "$variant" in
    leaky) keepalive=3600 ;;
    fixed) keepalive=2 ;;
    *) echo "serve.sh: variant must be leaky or fixed, not '$variant'" >&2; exit 2 ;;
esac
if ! command -v gunicorn >/dev/null 2>&1; then
    echo "serve.sh: gunicorn not found on PATH: pip install gunicorn" >&2
    exit 3
fi
here=$(cd "$(dirname "$0")" && pwd)
echo "serve.sh: gunicorn ($variant: keep-alive ${keepalive}s) on 127.0.0.1:$port"
gunicorn --chdir "$here" --bind "127.0.0.1:$port" --worker-class gthread --workers 2 \
    --threads 4 --keep-alive "$keepalive" --timeout 30 --access-logfile - app:app
echo "serve.sh: gunicorn exited with $?"
