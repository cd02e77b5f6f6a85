# Multi-stage build: the same `make build` as everywhere else, then a
# static binary on a distroless, non-root base.
# `make docker-check` (part of `make test`) reproduces the build stage
# without a Docker engine; keep its instructions to WORKDIR, ARG, ENV,
# COPY and RUN.
# Pinned to go.mod's Go: the golang images set GOTOOLCHAIN=local.
FROM golang:1.26.8-bookworm AS build
# The version stamped into the binary: `make docker` passes git describe;
# .git is not in the build context.
ARG VERSION=docker
WORKDIR /src
# go.mod replaces the guest SDK module with ./sdk, so its go.mod (and a
# go.sum once it has dependencies) must be there before the download.
COPY go.mod go.sum ./
COPY sdk/go.* ./sdk/
RUN go mod download
COPY . .
RUN make build BIN=/out/otlpgw VERSION="${VERSION}"

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/otlpgw /usr/local/bin/otlpgw
USER 65532:65532
# The embedded default configuration reads the admin endpoint from this
# variable (localhost:8888 outside the image): in a container, admin must
# listen on every interface for the published port, probes and scrapers to
# reach it. The receivers already listen on 0.0.0.0. A configuration file
# of your own sets admin.endpoint itself.
ENV OTLPGW_ADMIN_ENDPOINT=0.0.0.0:8888
EXPOSE 4317 4318 8888
# Exec form: distroless has no shell. healthcheck reads the same variable,
# so it asks http://localhost:8888/readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/usr/local/bin/otlpgw", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/otlpgw"]
CMD ["run"]
