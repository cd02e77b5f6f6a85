# otlpgw build entry points. `make run` and `make test` are the README's
# Quick start; CI runs `make test` through .ci/run.

GO        ?= go
BIN       ?= bin/otlpgw
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/otlpgw/otlpgw/gateway/cli.version=$(VERSION)
PKGS      := ./...
FUZZTIME  ?= 30s
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build run test lint vet fmt-check staticcheck test-race fuzz bench docker clean

all: build

## build: the static otlpgw binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/otlpgw

## run: build, then run the gateway on its embedded default configuration
run: build
	./$(BIN) run

## test: what CI runs: formatting, vet, staticcheck, and every test with the race detector
test: lint test-race

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bench/collector/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

test-race:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## fuzz: run every fuzz target for FUZZTIME each (not part of `make test`)
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## bench: Go benchmarks of the hot path (see bench/README.md for the load benchmark)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./gateway/...

docker:
	docker build -t otlpgw:$(VERSION) .

clean:
	rm -rf bin
