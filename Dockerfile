# syntax=docker/dockerfile:1
# infradash in one static binary on a distroless, non-root image (needs Docker to build).
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) \
#     -t infradash .

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=""
ARG BUILD_DATE=""
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.buildDate=${BUILD_DATE}" \
      -o /out/infradash . \
 && /out/infradash version \
 && mkdir -p /out/spool

# static-debian12 has CA certificates (Slack, Sentry over HTTPS) and tzdata, and no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/infradash /usr/local/bin/infradash
# The spool of samples not stored yet (serve: its own host's; agent: what the hub has not taken).
# Owned by nonroot, so a named volume mounted here starts out writable.
COPY --from=build --chown=nonroot:nonroot /out/spool /var/lib/infradash-agent
ENV HTTP_ADDR=0.0.0.0:8080 \
    ENVIRONMENT=production \
    AGENT_SPOOL_DIR=/var/lib/infradash-agent
EXPOSE 8080
USER nonroot
# No curl in the image: the binary probes itself (GET /healthz on HTTP_ADDR, 3 s timeout).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/infradash", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/infradash"]
CMD ["serve"]
