# The deployable Functions app: host.json, the handler binary (linux/amd64, no cgo)
# and one folder per function with its function.json. `func start --script-root build/app`
# runs it; the deploy workflow zips the same directory.
APP      := build/app
GOFLAGS  := -trimpath
FUZZTIME ?= 30s

.PHONY: app test vet dev bench load fuzz clean

app:
	rm -rf $(APP)
	mkdir -p $(APP)
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build $(GOFLAGS) -ldflags='-s -w' -o $(APP)/handler ./handler
	cp host.json $(APP)/
	for dir in functions/*/; do \
		name=$$(basename $$dir); mkdir -p $(APP)/$$name; cp $$dir/function.json $(APP)/$$name/; \
	done

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
	go run ./dev/sandbox

bench:
	go test -run '^$$' -bench . -benchmem ./...

load:
	go run ./dev/load

fuzz:
	go test -run '^$$' -fuzz FuzzVerify -fuzztime $(FUZZTIME) ./handler/token

clean:
	rm -rf build
