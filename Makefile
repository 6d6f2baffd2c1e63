# keepfed — see README.md. Every target works on a fresh machine with only Go.

GO          ?= go
BIN         := $(CURDIR)/bin
STATICCHECK := $(BIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
FUZZTIME      ?= 3s
LONG_FUZZTIME ?= 2m
BENCHTIME   ?= 300ms
BENCHCOUNT  ?= 5

.PHONY: all build test lint vet staticcheck unit fuzz-short fuzz bench soak run clean

all: build

build:
	$(GO) build -o $(BIN)/keepfed ./cmd/keepfed

# The README's test command: gofmt, vet, staticcheck, a short pass of every
# fuzz target, then the race-enabled unit and integration tests.
test: lint fuzz-short unit

lint: vet staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

# Allocation tests (sync.Pool drops items under -race) and the full-size
# benchmark-input checks (too slow under -race) skip themselves there, so
# they run once more without it.
unit:
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run 'Alloc|BenchInputsAgree' ./...

fuzz-short:
	./scripts/fuzz-all $(FUZZTIME)

fuzz:
	./scripts/fuzz-all $(LONG_FUZZTIME)

# Side-by-side benchmarks: one table of medians and ratios, keepfed against
# baselines measured in the same run (docs/BENCHMARKS.md).
bench:
	BENCHTIME=$(BENCHTIME) BENCHCOUNT=$(BENCHCOUNT) ./scripts/bench

# Bounded soak test, not in CI: 64 clients, 60 s, two clusters on
# loopback, random remote faults; see docs/RELIABILITY.md.
soak:
	$(GO) test ./bench -run '^TestSoak$$' -count=1 -soak -v -timeout 5m

run: build
	@./scripts/run-demo

clean:
	rm -rf $(BIN)
