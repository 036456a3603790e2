# Passage: `make run` starts the router with the bundled plugins; `make test` runs
# every check CI runs. Both set up everything they need on a fresh machine.

CARGO ?= cargo
WASM_TARGET := wasm32-wasip2
PLUGIN_OUT := target/$(WASM_TARGET)/plugin
# Plugins we ship: built into plugins/<name>.wasm, where the router loads them.
SHIPPED_PLUGINS := fixed-status fixed-discovery player-fill round-robin host-groups
# Built but not shipped: they need settings the default config cannot give
# (http-discovery needs a `url`), and `make run` loads every plugins/*.wasm.
OPTIONAL_PLUGINS := http-discovery allowlist maintenance network-status wake-on-join queue seats
# Test fixtures: built for the end-to-end tests only.
TEST_PLUGINS := misbehave flaky-strategy reserving-router v2-roles v3-roles

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

# A test that cannot run here (a toolchain or service that could not be
# installed) reports a skip with its reason (`passage_tests::skip`): they are
# listed at the end, never counted as passes. `.ci/run` sets PASSAGE_REQUIRE_ALL=1,
# which turns every skip into a failure.
SKIPS := target/test-skips
test: skips-reset lint deny unit e2e skips-report

.PHONY: skips-reset skips-report
skips-reset:
	@rm -rf $(SKIPS)
skips-report:
	@if [ -d $(SKIPS) ] && [ -n "$$(ls -A $(SKIPS))" ]; then \
		echo "$$(ls $(SKIPS) | wc -l) test(s) SKIPPED (not run, not passed):"; \
		cat $(SKIPS)/* | sed 's/^/  /'; \
	else echo "no test skipped"; fi

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
bench: plugins redis-tools
	$(CARGO) bench --locked -p passage --bench plugin_calls --bench protocol --bench keyvalue

# The load generator (see loadgen/README.md): target/release/passage-loadgen.
loadgen:
	$(CARGO) build --locked --release -p passage-loadgen

clean:
	$(CARGO) clean
	rm -f $(addprefix plugins/,$(addsuffix .wasm,$(SHIPPED_PLUGINS)))

# ---- Plugins in Python and JavaScript (docs/plugins/python.md, javascript.md) ----
# Their toolchains are installed on first use, at pinned versions, under
# target/toolchains/. Without python3 (venv, pip) or node/npm, or without PyPI or
# npm, the build is skipped, not failed: the reason goes into
# target/toolchains/<python|js>.unavailable and the end-to-end tests skip too.
# Outputs stay in target/ (12-18 MB each, seconds to compile): never plugins/*.wasm.
.PHONY: lang-plugins py-plugins js-plugins
TOOLCHAINS := target/toolchains
COMPONENTIZE_PY_VERSION := 0.25.1
# `jco componentize` 1.35.0 fails (os error 44 reading the WIT); the
# componentize-js CLI it depends on works, so both are pinned and the CLI is used.
JCO_VERSION := 1.35.0
COMPONENTIZE_JS_VERSION := 0.22.0
PY_STAMP := $(TOOLCHAINS)/python/componentize-py-$(COMPONENTIZE_PY_VERSION).ok
JS_STAMP := $(TOOLCHAINS)/js/componentize-js-$(COMPONENTIZE_JS_VERSION)-jco-$(JCO_VERSION).ok
COMPONENTIZE_JS := $(TOOLCHAINS)/js/node_modules/@bytecodealliance/componentize-js/src/cli.js
PLUGIN_WIT := wit/0.1.0/plugin.wit
PLUGIN_WIT_V3 := wit/0.3.0/plugin.wit

lang-plugins: py-plugins js-plugins
py-plugins: $(PLUGIN_OUT)/rendezvous_py.wasm $(PLUGIN_OUT)/banlist_py.wasm $(PLUGIN_OUT)/seats_py.wasm
js-plugins: $(PLUGIN_OUT)/weighted_js.wasm $(PLUGIN_OUT)/first_join_js.wasm $(PLUGIN_OUT)/seats_js.wasm
e2e: lang-plugins

# A stamp that is not created (install failed) leaves the rule to run again next time.
$(PY_STAMP):
	@mkdir -p $(TOOLCHAINS); rm -rf $(TOOLCHAINS)/python; log=$(TOOLCHAINS)/python.log; \
	echo "installing componentize-py $(COMPONENTIZE_PY_VERSION) into $(TOOLCHAINS)/python"; \
	if ! command -v python3 >/dev/null 2>&1; then why="python3 not found"; \
	elif ! python3 -m venv $(TOOLCHAINS)/python >$$log 2>&1; then \
		why="python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv), see $$log"; \
	elif ! $(TOOLCHAINS)/python/bin/python -m pip install --disable-pip-version-check \
		--timeout 30 --retries 2 componentize-py==$(COMPONENTIZE_PY_VERSION) >>$$log 2>&1; then \
		why="pip install componentize-py==$(COMPONENTIZE_PY_VERSION) failed (PyPI unreachable?), see $$log"; \
	else why=; fi; \
	if [ -n "$$why" ]; then \
		echo "$$why" >$(TOOLCHAINS)/python.unavailable; echo "python plugins skipped: $$why"; \
	else rm -f $(TOOLCHAINS)/python.unavailable; touch $@; fi

$(JS_STAMP):
	@mkdir -p $(TOOLCHAINS); rm -rf $(TOOLCHAINS)/js; log=$(TOOLCHAINS)/js.log; \
	echo "installing componentize-js $(COMPONENTIZE_JS_VERSION) and jco $(JCO_VERSION) into $(TOOLCHAINS)/js"; \
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
		why="node or npm not found"; \
	elif ! npm install --prefix $(TOOLCHAINS)/js --save-exact --no-audit --no-fund \
		--fetch-retries=2 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=10000 \
		@bytecodealliance/componentize-js@$(COMPONENTIZE_JS_VERSION) \
		@bytecodealliance/jco@$(JCO_VERSION) >$$log 2>&1; then \
		why="npm install @bytecodealliance/componentize-js@$(COMPONENTIZE_JS_VERSION) failed (npm registry unreachable?), see $$log"; \
	elif ! node $(COMPONENTIZE_JS) --version >>$$log 2>&1; then \
		why="componentize-js does not run on node $$(node --version), see $$log"; \
	else why=; fi; \
	if [ -n "$$why" ]; then \
		echo "$$why" >$(TOOLCHAINS)/js.unavailable; echo "javascript plugins skipped: $$why"; \
	else rm -f $(TOOLCHAINS)/js.unavailable; touch $@; fi

# Built into a temporary file first, so a failed build leaves no stale output.
# The sources are staged in target/ because componentize-py writes __pycache__
# next to the modules it imports.
# Then `passage plugin manifest set` writes the plugin's manifest.json into the
# component (docs/plugins/sharing.md): the router itself does it, so it is built first.
$(PLUGIN_OUT)/rendezvous_py.wasm: $(wildcard plugins/rendezvous-py/*.py) plugins/rendezvous-py/manifest.json $(PLUGIN_WIT) $(PY_STAMP) | host
	@if [ ! -f $(PY_STAMP) ]; then \
		echo "rendezvous-py skipped: $$(cat $(TOOLCHAINS)/python.unavailable)"; \
	else mkdir -p $(PLUGIN_OUT) && rm -rf $(TOOLCHAINS)/src/rendezvous-py && \
		mkdir -p $(TOOLCHAINS)/src/rendezvous-py && \
		cp plugins/rendezvous-py/*.py $(TOOLCHAINS)/src/rendezvous-py/ && \
		echo "componentize-py: plugins/rendezvous-py -> $@" && \
		VIRTUAL_ENV=$(CURDIR)/$(TOOLCHAINS)/python \
		$(TOOLCHAINS)/python/bin/componentize-py -d wit/0.1.0 -w strategy-plugin \
			componentize -p $(TOOLCHAINS)/src/rendezvous-py app -o $@.tmp && \
		target/debug/passage plugin manifest set $@.tmp \
			--from plugins/rendezvous-py/manifest.json && \
		mv $@.tmp $@; \
	fi

# -d http -d fetch-event: it makes no HTTP requests, so it does not import wasi:http.
$(PLUGIN_OUT)/weighted_js.wasm: plugins/weighted-js/plugin.js plugins/weighted-js/manifest.json $(PLUGIN_WIT) $(JS_STAMP) | host
	@if [ ! -f $(JS_STAMP) ]; then \
		echo "weighted-js skipped: $$(cat $(TOOLCHAINS)/js.unavailable)"; \
	else mkdir -p $(PLUGIN_OUT) && \
		echo "componentize-js: plugins/weighted-js -> $@" && \
		node $(COMPONENTIZE_JS) plugins/weighted-js/plugin.js --wit wit/0.1.0 \
			-n strategy-plugin -d http -d fetch-event -o $@.tmp && \
		target/debug/passage plugin manifest set $@.tmp \
			--from plugins/weighted-js/manifest.json && \
		mv $@.tmp $@; \
	fi

# Contract 0.3.0: an admission plugin in Python, a selection plugin in JavaScript.
$(PLUGIN_OUT)/banlist_py.wasm: $(wildcard plugins/banlist-py/*.py) plugins/banlist-py/manifest.json $(PLUGIN_WIT_V3) $(PY_STAMP) | host
	@if [ ! -f $(PY_STAMP) ]; then \
		echo "banlist-py skipped: $$(cat $(TOOLCHAINS)/python.unavailable)"; \
	else mkdir -p $(PLUGIN_OUT) && rm -rf $(TOOLCHAINS)/src/banlist-py && \
		mkdir -p $(TOOLCHAINS)/src/banlist-py && \
		cp plugins/banlist-py/*.py $(TOOLCHAINS)/src/banlist-py/ && \
		echo "componentize-py: plugins/banlist-py -> $@" && \
		VIRTUAL_ENV=$(CURDIR)/$(TOOLCHAINS)/python \
		$(TOOLCHAINS)/python/bin/componentize-py -d wit/0.3.0 -w admission-plugin \
			componentize -p $(TOOLCHAINS)/src/banlist-py app -o $@.tmp && \
		target/debug/passage plugin manifest set $@.tmp \
			--from plugins/banlist-py/manifest.json && \
		mv $@.tmp $@; \
	fi

$(PLUGIN_OUT)/first_join_js.wasm: plugins/first-join-js/plugin.js plugins/first-join-js/manifest.json $(PLUGIN_WIT_V3) $(JS_STAMP) | host
	@if [ ! -f $(JS_STAMP) ]; then \
		echo "first-join-js skipped: $$(cat $(TOOLCHAINS)/js.unavailable)"; \
	else mkdir -p $(PLUGIN_OUT) && \
		echo "componentize-js: plugins/first-join-js -> $@" && \
		node $(COMPONENTIZE_JS) plugins/first-join-js/plugin.js --wit wit/0.3.0 \
			-n selection-plugin -d http -d fetch-event -o $@.tmp && \
		target/debug/passage plugin manifest set $@.tmp \
			--from plugins/first-join-js/manifest.json && \
		mv $@.tmp $@; \
	fi

# Test fixtures: placement plugins on a key-value bucket, from Python and from
# JavaScript (tests/tests/languages.rs), with the bindings docs/plugins/keyvalue.md
# describes. No manifest: they are not shipped.
$(PLUGIN_OUT)/seats_py.wasm: tests/plugins/seats-py/app.py $(PLUGIN_WIT_V3) $(PY_STAMP)
	@if [ ! -f $(PY_STAMP) ]; then \
		echo "seats-py skipped: $$(cat $(TOOLCHAINS)/python.unavailable)"; \
	else mkdir -p $(PLUGIN_OUT) && rm -rf $(TOOLCHAINS)/src/seats-py && \
		mkdir -p $(TOOLCHAINS)/src/seats-py && \
		cp tests/plugins/seats-py/app.py $(TOOLCHAINS)/src/seats-py/ && \
		echo "componentize-py: tests/plugins/seats-py -> $@" && \
		VIRTUAL_ENV=$(CURDIR)/$(TOOLCHAINS)/python \
		$(TOOLCHAINS)/python/bin/componentize-py -d wit/0.3.0 -w placement-plugin \
			componentize -p $(TOOLCHAINS)/src/seats-py app -o $@.tmp && \
		mv $@.tmp $@; \
	fi

$(PLUGIN_OUT)/seats_js.wasm: tests/plugins/seats-js/plugin.js $(PLUGIN_WIT_V3) $(JS_STAMP)
	@if [ ! -f $(JS_STAMP) ]; then \
		echo "seats-js skipped: $$(cat $(TOOLCHAINS)/js.unavailable)"; \
	else mkdir -p $(PLUGIN_OUT) && \
		echo "componentize-js: tests/plugins/seats-js -> $@" && \
		node $(COMPONENTIZE_JS) tests/plugins/seats-js/plugin.js --wit wit/0.3.0 \
			-n placement-plugin -d http -d fetch-event -o $@.tmp && \
		mv $@.tmp $@; \
	fi

# ---- Prometheus and promtool, for the dashboard and alert tests (deploy/) ----
# tests/tests/prometheus.rs runs `promtool check rules` / `promtool test rules`
# on deploy/prometheus/ and a real Prometheus scraping a real router. Both come
# from the distribution's `prometheus` package (Debian/Ubuntu), installed here
# when missing and when running as root (about 15 s; its service is not used,
# the tests start the binary on a port of their own). Otherwise the reason goes
# into target/toolchains/prometheus.unavailable and those tests skip.
.PHONY: prometheus-tools
PROMETHEUS_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
prometheus-tools:
	@mkdir -p $(TOOLCHAINS); log=$(TOOLCHAINS)/prometheus.log; have() { \
		command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; }; \
	if have; then why=; \
	elif [ "$$(id -u)" != 0 ]; then \
		why="prometheus or promtool not found, and not root to install them (apt-get install prometheus)"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		why="prometheus or promtool not found, and no apt-get to install them"; \
	else echo "installing prometheus (apt-get install prometheus), log in $$log"; started=$$(date +%s); \
		if $(PROMETHEUS_INSTALL) >$$log 2>&1 || \
			{ apt-get update >>$$log 2>&1 && $(PROMETHEUS_INSTALL) >>$$log 2>&1; }; then \
			echo "prometheus installed in $$(( $$(date +%s) - started )) s: $$(prometheus --version 2>&1 | head -n1)"; \
		fi; \
		if have; then why=; else why="apt-get install prometheus failed (no package source reachable?), see $$log"; fi; \
	fi; \
	if [ -n "$$why" ]; then \
		echo "$$why" >$(TOOLCHAINS)/prometheus.unavailable; echo "prometheus tests skipped: $$why"; \
	else rm -f $(TOOLCHAINS)/prometheus.unavailable; fi
e2e: prometheus-tools
# ---- Tools the sharing tests use (tests/tests/sharing.rs) ----
# A real OCI registry (Debian's `docker-registry`, the CNCF distribution
# registry), `htpasswd` for its password file, and the real `minisign`, so
# pushes, pulls, registry logins and signatures are tested against independent
# implementations. Each is `command:package`; installed with apt-get when
# missing and running as root; otherwise the reason goes into
# target/toolchains/<command>.unavailable and the tests that need it skip with it.
TEST_TOOLS := docker-registry:docker-registry minisign:minisign htpasswd:apache2-utils
.PHONY: test-tools
test-tools:
	@mkdir -p $(TOOLCHAINS); for tp in $(TEST_TOOLS); do t=$${tp%%:*}; p=$${tp#*:}; \
		if command -v $$t >/dev/null 2>&1; then rm -f $(TOOLCHAINS)/$$t.unavailable; continue; fi; \
		log=$(TOOLCHAINS)/$$t.log; echo "installing $$p (apt-get) for $$t"; \
		if [ "$$(id -u)" != 0 ]; then why="$$t is not installed, and installing it needs root (apt-get install $$p)"; \
		elif ! command -v apt-get >/dev/null 2>&1; then why="$$t is not installed and there is no apt-get"; \
		elif ! { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$p >$$log 2>&1 || \
			{ apt-get update >>$$log 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$p >>$$log 2>&1; }; }; then \
			why="apt-get install $$p failed, see $$log"; \
		else why=; fi; \
		if [ -n "$$why" ]; then echo "$$why" >$(TOOLCHAINS)/$$t.unavailable; echo "$$t: $$why"; \
		else rm -f $(TOOLCHAINS)/$$t.unavailable; fi; \
	done
e2e: test-tools

# ---- redis-server, for the key-value tests (tests/tests/keyvalue.rs) ----
# The tests start their own redis-server on a free loopback port (no
# persistence, a temporary directory, killed when done): three routers share
# it. It comes from the distribution's `redis-server` package (Debian 12:
# Redis 7.0, built with TLS), installed here when missing and when running as
# root (its service is not used). Otherwise the reason goes into
# target/toolchains/redis.unavailable and those tests skip. `openssl` makes the
# throwaway CA of the TLS test.
.PHONY: redis-tools
REDIS_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server openssl
redis-tools:
	@mkdir -p $(TOOLCHAINS); log=$(TOOLCHAINS)/redis.log; have() { \
		command -v redis-server >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1; }; \
	if have; then why=; \
	elif [ "$$(id -u)" != 0 ]; then \
		why="redis-server or openssl not found, and not root to install them (apt-get install redis-server openssl)"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		why="redis-server or openssl not found, and no apt-get to install them"; \
	else echo "installing redis-server (apt-get install redis-server), log in $$log"; started=$$(date +%s); \
		if $(REDIS_INSTALL) >$$log 2>&1 || \
			{ apt-get update >>$$log 2>&1 && $(REDIS_INSTALL) >>$$log 2>&1; }; then \
			echo "redis-server installed in $$(( $$(date +%s) - started )) s: $$(redis-server --version 2>&1 | head -n1)"; \
		fi; \
		if have; then why=; else why="apt-get install redis-server failed (no package source reachable?), see $$log"; fi; \
	fi; \
	if [ -n "$$why" ]; then \
		echo "$$why" >$(TOOLCHAINS)/redis.unavailable; echo "key-value tests on Redis skipped: $$why"; \
	else rm -f $(TOOLCHAINS)/redis.unavailable; fi
e2e: redis-tools
