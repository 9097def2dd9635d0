# infradash: `make run` to try it, `make test` for everything the project checks.
SHELL := /bin/bash
GO    ?= go
TOOL  := $(GO) tool -modfile=tools/go.mod
BIN   := bin/infradash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(DATE)

.PHONY: run build test lint generate check-generated bench fuzz soak screenshots clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

run: build ## install what is missing, then serve on http://127.0.0.1:8080 (private PostgreSQL unless DATABASE_URL is set)
	@if [ -z "$$DATABASE_URL" ]; then scripts/ensure-deps.sh postgres; fi
	$(BIN) serve

build: ## build bin/infradash
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

test: lint check-generated ## gofmt, vet, the OpenAPI lint, generated-code freshness, then every test with -race against real PostgreSQL and Chromium
	scripts/ensure-deps.sh postgres chromium promtool
	$(GO) test -race -count=1 -timeout 20m ./...

lint: ## gofmt, go vet, and Redocly's recommended rules on the OpenAPI document
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	scripts/lint-openapi.sh

generate: ## regenerate sqlc and templ code (commit the result)
	$(TOOL) sqlc generate
	@if ls views/*.templ >/dev/null 2>&1; then $(TOOL) templ generate -path views; fi

check-generated: ## fail when generated code is stale
	scripts/check-generated.sh

bench: build ## Go benchmarks, load tests of the real server and of a simulated fleet (cmd/fleetsim); see docs/benchmarks.md
	scripts/ensure-deps.sh postgres
	@# Their output goes to bin/bench-go.txt too: fleet-bench.sh prints the targets table from it.
	@# -p 1: one package's benchmarks at a time, or two share the 2 cores and both measure slow.
	set -o pipefail; $(GO) test -p 1 -run '^$$' -bench . -skip BenchmarkRetention -benchmem -count 1 -timeout 60m ./... | tee bin/bench-go.txt
	@# Each run of BenchmarkRetention seeds a day of a fleet first: one run, not one a second.
	set -o pipefail; $(GO) test -run '^$$' -bench BenchmarkRetention -benchtime 1x -count 1 -timeout 60m ./jobs/ | tee -a bin/bench-go.txt
	scripts/bench.sh
	scripts/idle.sh
	BENCH_GO=bin/bench-go.txt scripts/fleet-bench.sh

fuzz: ## each go test -fuzz target for FUZZTIME (60s; FUZZ=regexp picks targets); commit what it finds (PKG/testdata/fuzz/TARGET/FILE) once fixed: a regression seed
	scripts/ensure-deps.sh postgres
	FUZZTIME=$(or $(FUZZTIME),60s) scripts/fuzz.sh

soak: build ## SOAK_DURATION (1h) of 200 agents, 20 dashboards and API clients against a real hub; fails on errors or growth; plot in docs/soak.svg
	scripts/ensure-deps.sh postgres
	scripts/soak.sh

screenshots: ## retake docs/screenshots/*.png (the dashboard and the settings pages, desktop and phone, light and dark) in headless Chromium
	scripts/ensure-deps.sh postgres chromium
	INFRADASH_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'TestDashboardInChromium|TestFleetInChromium|TestSettingsInChromium|TestAlertRulesChannelsAndSilencesInChromium' ./browsertest/

clean: ## remove the binary and the installed linters (keeps .data, the private database)
	rm -rf bin .tools
