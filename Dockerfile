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
EXPOSE 4317 4318 8888
ENTRYPOINT ["/usr/local/bin/otlpgw"]
CMD ["run"]
