# The deployable Functions app: host.json, the handler binary (no cgo) and one folder
# per function with its function.json. Linux/amd64 is what the Function App runs;
# `make app APP_GOOS=windows APP_GOARCH=amd64` builds handler.exe for `func start` on
# Windows. A local.settings.json in build/app is kept. The deploy workflow zips the
# directory.
APP      := build/app
APP_GOOS   ?= linux
APP_GOARCH ?= amd64
PANE     := build/pane
FUZZTIME ?= 30s

.PHONY: app pane test vet dev local doctor bench load fuzz clean

app:
	go run ./dev/buildapp -out $(APP) -goos $(APP_GOOS) -goarch $(APP_GOARCH)

# The task pane as Static Web Apps serves it: staticwebapp/ without its tests, plus from
# node_modules (no bundler) MSAL.js, Fluent 2 web components' ES module bundle and the Fluent
# tokens' themes, where dev/sandbox's front.go (paneLibs) serves them too. The deploy workflow adds the manifests (go run ./manifest/generate)
# and writes config.json in $(PANE). index.html is the pane too: Static Web Apps' upload refuses a
# folder without a default file (Azure/static-web-apps#232), and the site's root then shows the pane.
pane: node_modules
	rm -rf $(PANE)
	mkdir -p $(PANE)/lib
	cp -R staticwebapp/. $(PANE)/
	rm -rf $(PANE)/test $(PANE)/README.md $(PANE)/package.json
	cp $(PANE)/taskpane.html $(PANE)/index.html
	cp node_modules/@azure/msal-browser/lib/msal-browser.min.js $(PANE)/lib/msal-browser.min.js
	mkdir -p $(PANE)/lib/fluent $(PANE)/lib/fluent-tokens
	cp node_modules/@fluentui/web-components/dist/web-components-all.min.js $(PANE)/lib/fluent/web-components.min.js
	cp -R node_modules/@fluentui/tokens/lib/. $(PANE)/lib/fluent-tokens/

# Every test: unit, black-box (real binary, emulators, Azurite), infra checks.
test: node_modules vet
	go test -count=1 ./...

vet:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	go vet ./...

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

# Azurite, the Entra ID and Graph emulators, the handler and the task pane; one URL.
dev: node_modules
	go run ./dev/sandbox $(SANDBOX_FLAGS)

# The same against your own tenant: local.settings.json, func start, https://localhost:3000
# (npm run local; README, "Run it against your tenant").
local: node_modules
	go run ./dev/sandbox -tenant

# Settings, manifests and the app registration (through Graph, signed in with az login)
# checked for what makes Office answer 13xxx; DOCTOR_FLAGS=-json for CI, -offline without Graph.
doctor:
	go run ./dev/doctor $(DOCTOR_FLAGS)

bench:
	go test -run '^$$' -bench . -benchmem ./...

load:
	go run ./dev/load

# The parsers that read what callers and upstreams send: tokens, Graph paths,
# claims challenges, cached rows.
fuzz:
	go test -run '^$$' -fuzz FuzzVerify -fuzztime $(FUZZTIME) ./handler/token
	go test -run '^$$' -fuzz FuzzMembers -fuzztime $(FUZZTIME) ./handler/token
	go test -run '^$$' -fuzz FuzzSplitPath -fuzztime $(FUZZTIME) ./handler/graphroute
	go test -run '^$$' -fuzz FuzzDecodeClaims -fuzztime $(FUZZTIME) ./handler/entra
	go test -run '^$$' -fuzz FuzzOpen -fuzztime $(FUZZTIME) ./handler/tokencache
	go test -run '^$$' -fuzz FuzzRewriteLinks -fuzztime $(FUZZTIME) ./functions/graph-proxy

clean:
	rm -rf build
