# Passage: `make run` starts the router with the bundled plugins; `make test` runs
# every check CI runs. Both set up everything they need on a fresh machine.

CARGO ?= cargo
WASM_TARGET := wasm32-wasip2
PLUGIN_OUT := target/$(WASM_TARGET)/plugin
# Plugins we ship: built into plugins/<name>.wasm, where the router loads them.
SHIPPED_PLUGINS := fixed-status fixed-discovery player-fill round-robin host-groups
# Built but not shipped: they need settings the default config cannot give
# (http-discovery needs a `url`), and `make run` loads every plugins/*.wasm.
OPTIONAL_PLUGINS := http-discovery
# Test fixtures: built for the end-to-end tests only.
TEST_PLUGINS := misbehave flaky-strategy reserving-router

.PHONY: all run test lint deny unit e2e plugins host wasm-target release bench loadgen clean

all: plugins host

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

plugins: wasm-target
	$(CARGO) build --locked --target $(WASM_TARGET) --profile plugin \
		$(addprefix -p ,$(SHIPPED_PLUGINS) $(OPTIONAL_PLUGINS) $(TEST_PLUGINS))
	@for p in $(SHIPPED_PLUGINS); do \
		cp $(PLUGIN_OUT)/$$(echo $$p | tr - _).wasm plugins/$$p.wasm; \
	done

host:
	$(CARGO) build --locked -p passage

run: plugins host
	$(CARGO) run --locked -p passage -- --config config/passage.toml

release: plugins
	$(CARGO) build --locked --release -p passage

test: lint deny unit e2e

# Dependency policy (deny.toml). cargo-deny is installed on first use. The
# advisory database lives on GitHub: checked when it can be fetched, reported as
# skipped when it cannot (these machines reach package registries only).
CARGO_DENY_VERSION := 0.20.2
deny:
	@$(CARGO) deny --version 2>/dev/null | grep -q $(CARGO_DENY_VERSION) || \
		$(CARGO) install --locked cargo-deny --version $(CARGO_DENY_VERSION)
	$(CARGO) deny --locked check licenses bans sources
	@if $(CARGO) deny fetch db >/dev/null 2>&1; then \
		$(CARGO) deny --locked check --disable-fetch advisories; \
	else \
		echo "cargo deny: advisory database unreachable (no access to github.com): advisories check skipped"; \
	fi

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

# The load generator's smoke test runs the router too: build it first.
unit: plugins host
	$(CARGO) test --locked --workspace --exclude passage-tests

e2e: plugins host
	$(CARGO) test --locked -p passage-tests

# Criterion benchmarks of plugin calls (see BENCHMARKS.md for recorded figures).
bench: plugins
	$(CARGO) bench --locked -p passage --bench plugin_calls --bench protocol

# The load generator (see loadgen/README.md): target/release/passage-loadgen.
loadgen:
	$(CARGO) build --locked --release -p passage-loadgen

clean:
	$(CARGO) clean
	rm -f $(addprefix plugins/,$(addsuffix .wasm,$(SHIPPED_PLUGINS)))
