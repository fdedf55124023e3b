# One image for the whole topology: the harness, the Python samples, Locust, and a
# toxiproxy-server built from source (plus the Go sample when harness/samples/go exists).
#   docker build -t soak-harness:dev .
#   docker run --rm soak-harness:dev validate scenarios/smoke.yaml
# Base images are build arguments (compose.yaml passes HARNESS_GO_IMAGE and
# HARNESS_PYTHON_IMAGE): where the official images cannot be pulled,
# scripts/docker-engine.sh builds local stand-ins. No `# syntax=` line: BuildKit would fetch
# a frontend image from a registry for it.
ARG GO_IMAGE=golang:1.23-bookworm
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---- build stage: Go binaries ---------------------------------------------------------
FROM ${GO_IMAGE} AS gobuild
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
RUN GOBIN=/out go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0 \
 && mv /out/server /out/toxiproxy-server
COPY harness/samples/ /src/samples/
# the Go sample is optional: build it only when its module is in the tree
RUN if [ -f /src/samples/go/go.mod ]; then \
      cd /src/samples/go && go build -o /out/goleaks . ; \
    fi

# ---- runtime --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HARNESS_REPORTS=/reports \
    MPLCONFIGDIR=/tmp/matplotlib \
    HOME=/tmp
RUN groupadd --system --gid 10001 soak \
 && useradd --system --uid 10001 --gid soak --home-dir /app --shell /usr/sbin/nologin soak
WORKDIR /app
COPY pyproject.toml README.md* ./
# dependencies first, from pyproject.toml alone: a change to the code does not reinstall them
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY harness/ harness/
RUN pip install --no-cache-dir --no-deps . && rm -rf build
COPY scenarios/ scenarios/
# Locust (master/worker containers) loads the bundled user classes from this file
RUN printf 'from harness.load.users import *  # noqa: F403\n' > /app/locustfile.py
COPY --from=gobuild /out/ /usr/local/bin/
# the compose runner starts as root only to make its report folder, then drops to 10001
COPY scripts/runner-entrypoint.py /usr/local/bin/soak-runner
# no VOLUME: every container of this image (samples, Locust) would get an anonymous volume
# that `compose down` leaves behind; the runner bind-mounts ./reports instead
RUN mkdir -p /reports && chown soak:soak /reports && chmod 755 /usr/local/bin/soak-runner
USER 10001:10001
ENTRYPOINT ["harness"]
CMD ["--help"]
