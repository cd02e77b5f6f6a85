# Multi-stage build: the same `make build` as everywhere else, then a
# static binary on a distroless, non-root base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build BIN=/out/otlpgw VERSION="$(git describe --tags --always 2>/dev/null || echo docker)"

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/otlpgw /usr/local/bin/otlpgw
USER 65532:65532
EXPOSE 4317 4318 8888
ENTRYPOINT ["/usr/local/bin/otlpgw"]
CMD ["run"]
