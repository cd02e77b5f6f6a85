# otlpgw build entry points. `make run` and `make test` are the README's
# Quick start; CI runs `make test` through .ci/run.

GO        ?= go
BIN       ?= bin/otlpgw
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/otlpgw/otlpgw/gateway/cli.version=$(VERSION)
PKGS      := ./...
FUZZTIME  ?= 30s
STATICCHECK_VERSION ?= v0.8.2

# Stock filters: each filters/NAME is built to filters/NAME/NAME.wasm and
# embedded in the binary. The flags make the build reproducible, so CI can
# check that the committed modules match their source.
FILTERS   := $(patsubst filters/%/main.go,%,$(wildcard filters/*/main.go))
WASMFLAGS := -trimpath -buildmode=c-shared -ldflags=-s

.PHONY: all build run test lint vet fmt-check staticcheck test-race check-filters filters fuzz bench docker docker-check clean docs

all: build

## build: the static otlpgw binary in bin/
build:
	@[ -x $(BIN) ] || echo "building $(BIN) (the first build downloads modules and compiles: a minute or two)"
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/otlpgw

## run: build, then run the gateway on its embedded default configuration
run: build
	./$(BIN) run

## test: what CI runs: formatting, vet, staticcheck, stale stock filters, the Dockerfile's build stage, and every test with the race detector
test: lint check-filters docker-check test-race

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bench/collector/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# The guest SDK is its own module (sdk/go.mod): ./... does not reach it.
vet:
	$(GO) vet $(PKGS)
	cd sdk && $(GO) vet ./...

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)
	cd sdk && $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

test-race:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	cd sdk && $(GO) test -race -count=1 -timeout 10m ./...

## docs: regenerate docs/config.md from the config structs (TestDocIsCurrent fails when it is stale)
docs:
	$(GO) run ./gateway/config/internal/gendoc

## filters: rebuild the stock filters' .wasm files from source
filters:
	@for f in $(FILTERS); do \
	  echo "building filters/$$f/$$f.wasm"; \
	  GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build $(WASMFLAGS) -o filters/$$f/$$f.wasm ./filters/$$f || exit 1; \
	done

## check-filters: fail when a committed stock filter is not what its source builds to
check-filters:
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	for f in $(FILTERS); do \
	  GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build $(WASMFLAGS) -o $$tmp/$$f.wasm ./filters/$$f || exit 1; \
	  cmp -s $$tmp/$$f.wasm filters/$$f/$$f.wasm || { echo "filters/$$f/$$f.wasm is stale: run make filters"; exit 1; }; \
	done; echo "stock filters up to date: $(FILTERS)"

## fuzz: run every fuzz target for FUZZTIME each (not part of `make test`)
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done; \
	cd sdk && for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## bench: Go benchmarks of the hot path (see bench/README.md for the load benchmark)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./gateway/...

## docker: build the image (needs a Docker engine)
docker:
	docker build --build-arg VERSION=$(VERSION) -t otlpgw:$(VERSION) .

## docker-check: reproduce the Dockerfile's build stage without a Docker engine and run the binary it produces
docker-check:
	GO=$(GO) scripts/docker-build-check.sh

clean:
	rm -rf bin
