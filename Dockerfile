# syntax=docker/dockerfile:1
# One image for the whole topology: the harness, the Python samples, Locust, and a
# toxiproxy-server built from source (plus the Go sample when harness/samples/go exists).
#   docker build -t soak-harness:dev .
#   docker run --rm soak-harness:dev validate scenarios/smoke.yaml

# ---- build stage: Go binaries ---------------------------------------------------------
FROM golang:1.23-bookworm AS gobuild
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
RUN GOBIN=/out go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0 \
 && mv /out/server /out/toxiproxy-server
COPY harness/samples/ /src/samples/
# the Go sample is optional: build it only when its module is in the tree
RUN if [ -f /src/samples/go/go.mod ]; then \
      cd /src/samples/go && go build -o /out/goleaks . ; \
    fi

# ---- runtime --------------------------------------------------------------------------
FROM python:3.11.11-slim-bookworm
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
COPY harness/ harness/
RUN pip install --no-cache-dir . && rm -rf build
COPY scenarios/ scenarios/
# Locust (master/worker containers) loads the bundled user classes from this file
RUN printf 'from harness.load.users import *  # noqa: F403\n' > /app/locustfile.py
COPY --from=gobuild /out/ /usr/local/bin/
RUN mkdir -p /reports && chown soak:soak /reports
USER 10001:10001
VOLUME ["/reports"]
ENTRYPOINT ["harness"]
CMD ["--help"]
