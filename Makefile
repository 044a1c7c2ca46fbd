# Phantom's build, test and lint entry points. Every Go target covers every
# module of go.work.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go

# Module directories of the workspace, and the package patterns of those that
# hold Go code (a module without packages would make `go test` fail).
MODULES := $(shell $(GO) list -m -f '{{.Dir}}')
PKGS := $(foreach m,$(MODULES),$(if $(shell find $(m) -name '*.go' -print -quit),$(m)/...))
SERVICES := $(patsubst services/%/main.go,%,$(wildcard services/*/main.go))

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# Pinned: a new staticcheck release must not break the build by itself.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_TIMEOUT ?= 30m
BENCH_TIMEOUT ?= 60m
# Where `make agent-clis` installs the pinned agent CLIs (pkg/testenv/agentcli looks there).
AGENT_CLIS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/phantom/agent-clis

# The dashboard (web/) is built into the gateway's embedded assets.
WEB_DIST := services/gateway/internal/ports/webui/dist

.PHONY: build test lint bench tidy-check up readme clean agent-clis web web-deps web-test web-lint

## build: the phantom command and each service's own binary, into ./bin
build:
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/phantom ./cmd/phantom
	@for s in $(SERVICES); do \
		echo "$(GO) build -o bin/phantom-$$s ./services/$$s"; \
		$(GO) build -ldflags '$(LDFLAGS)' -o bin/phantom-$$s ./services/$$s; \
	done

## test: every test of every module, with the race detector, and the dashboard's unit tests
test: web-test
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## lint: gofmt, go vet, staticcheck, the boundaries between services (no service links another
## outside tools/boundaries/allowlist.txt; every event type appended only by its owner); the
## dashboard's type check and generated API types
lint: web-lint
	@out="$$(gofmt -l $(MODULES))"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	$(GO) test -count=1 ./tools/boundaries

## bench: every benchmark (Phantom and its raw baseline side by side)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout $(BENCH_TIMEOUT) $(PKGS)

## fuzz: the fuzz targets, each for FUZZTIME: the safety guard's (no panic, a well-formed decision
## within its time budget (engine), one JSON denial or nothing (hook)) and the redactor's (any split
## of a stream gives the output of the whole; a known value never survives)
FUZZTIME ?= 30s
.PHONY: fuzz
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzCheck$$' -fuzztime $(FUZZTIME) ./services/safety-guard/policy
	$(GO) test -run '^$$' -fuzz '^FuzzHandle$$' -fuzztime $(FUZZTIME) ./services/safety-guard/policy/hook
	$(GO) test -run '^$$' -fuzz '^FuzzStream$$' -fuzztime $(FUZZTIME) ./pkg/redact

## tidy-check: go.mod and go.sum of every module are what `go mod tidy` makes
tidy-check:
	@for m in $(MODULES); do \
		echo "go mod tidy -diff ($$m)"; \
		(cd "$$m" && $(GO) mod tidy -diff) || { echo "run go mod tidy in $$m"; exit 1; }; \
	done

## agent-clis: install the pinned agent CLIs (tools/agent-clis/package-lock.json) that the
## end-to-end tests drive against the fake model API; a no-op when the lock is unchanged
agent-clis:
	@mkdir -p "$(AGENT_CLIS_DIR)"
	@if cmp -s tools/agent-clis/package-lock.json "$(AGENT_CLIS_DIR)/package-lock.json" && [ -d "$(AGENT_CLIS_DIR)/node_modules/.bin" ]; then \
		echo "agent CLIs up to date in $(AGENT_CLIS_DIR)"; \
	else \
		cp tools/agent-clis/package.json tools/agent-clis/package-lock.json "$(AGENT_CLIS_DIR)/"; \
		echo "npm ci in $(AGENT_CLIS_DIR)"; \
		cd "$(AGENT_CLIS_DIR)" && npm ci --no-audit --no-fund --loglevel=error; \
	fi
	@for c in claude codex gemini; do "$(AGENT_CLIS_DIR)/node_modules/.bin/$$c" --version; done

## up: build and run all of Phantom on this machine (phantom up --help lists its settings)
up: build
	./bin/phantom up

## readme: regenerate the README's configuration table from the settings structs
readme:
	PHANTOM_UPDATE_README=1 $(GO) test -count=1 -run TestREADMEConfigurationTableIsCurrent ./cmd/phantom

## web: the dashboard, from its pinned lockfile (npm ci), built into the gateway's embedded
## assets ($(WEB_DIST)); without it the gateway embeds only a placeholder
web: web-deps
	cd web && npm run build
	find $(WEB_DIST) -mindepth 1 ! -name .placeholder -delete
	cp -R web/dist/. $(WEB_DIST)/

## web-deps: npm ci in web/, skipped while the lockfile is the one last installed
web-deps:
	@if cmp -s web/package-lock.json web/node_modules/.phantom-lock; then \
		echo "web/node_modules up to date"; \
	else \
		echo "npm ci in web/"; \
		cd web && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.phantom-lock; \
	fi

## web-test: the dashboard's unit and component tests (Vitest)
web-test: web-deps
	cd web && npx vitest run

## web-lint: the dashboard's type check, and its API types as the contracts generate them
web-lint: web-deps
	cd web && npm run lint

clean:
	rm -rf bin web/dist

## redact-rules-check: pkg/redact's copy of gitleaks' rules and license is the release that
## pkg/redact/gitleaks/VERSION names (fetched through the Go module proxy), and its checksums hold
GITLEAKS_MODULE := github.com/zricethezav/gitleaks/v8
.PHONY: redact-rules-check
redact-rules-check:
	@cd pkg/redact/gitleaks && sha256sum --quiet -c SHA256SUMS
	@v="$$(cat pkg/redact/gitleaks/VERSION)"; \
	dir="$$(cd "$$(mktemp -d)" && $(GO) mod download -json $(GITLEAKS_MODULE)@$$v | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p')"; \
	test -n "$$dir" || { echo "could not download gitleaks $$v"; exit 1; }; \
	cmp pkg/redact/gitleaks/gitleaks.toml "$$dir/config/gitleaks.toml"; \
	cmp pkg/redact/gitleaks/LICENSE "$$dir/LICENSE"; \
	echo "pkg/redact/gitleaks is gitleaks $$v"
