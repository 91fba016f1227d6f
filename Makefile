# The two commands of the README: `make run` (set up, index the sample site through Dagster
# on the embedded defaults, search it) and `make test` (set up, pass every test tier).
# Both create or update the virtual environment in .venv when pyproject, setup.py or
# constraints change.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pressrag-installed
SYSTEM_STAMP := .pressrag-system-deps
export PRESSRAG_HOME ?= $(CURDIR)/.pressrag

.PHONY: venv models bytecode run up test test-fast test-faults lint system-deps bench bench-quality bench-peers clean

# uv installs what pip would (the same pinned set: constraints.txt) in ~15–30 s where pip took
# ~190 s from the registries, most of CI's set-up. uv does not read pip's configuration, so it
# is given pip's find-links folder, where this kind of machine keeps torch's CPU build.
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))

$(STAMP): pyproject.toml setup.py constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt uv
	# torch is pinned in the same command as everything that depends on it (CPU build).
	# --compile-bytecode: pip compiles what it installs, uv only when asked. Without it, where
	# PYTHONDONTWRITEBYTECODE is set (CI), every process compiled Dagster & co. again.
	$(BIN)/uv pip install --quiet --native-tls --compile-bytecode --python $(BIN)/python \
		$(if $(FIND_LINKS),--find-links $(FIND_LINKS)) -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# Indexing (exact) and serving (int8) embed with ONNX exports of the bundled model, made once per
# machine into ~/.cache/pressrag/models (~25 s the first time, a hash check after that).
models: venv
	$(BIN)/python -m pressrag.resources.embedders.minilm_onnx --variant int8

# The sources compiled once: every process a run or the tests start (run workers, code
# servers, the CLI) reads these instead of compiling them again, ~0.15 s of CPU each where
# PYTHONDONTWRITEBYTECODE is set (as on CI). Stale files are ignored by Python, never used.
bytecode: venv
	$(BIN)/python -m compileall -q assets resources orchestration serving tests bench

run: models bytecode
	$(BIN)/pressrag sites add demo --wxr samples/pydocs/export.xml
	$(BIN)/pressrag index --site demo
	$(BIN)/pressrag search "how do I make a virtual environment" --site demo
	$(BIN)/pressrag status
	@echo "Next: '$(BIN)/pressrag up' starts the Dagster UI (127.0.0.1:3000) and the API (127.0.0.1:8000)."

up: models
	$(BIN)/pressrag up

# Debian packages for the end-to-end tier: a real WordPress (PHP, MariaDB), Chromium, PHPUnit,
# PHP_CodeSniffer. Needs root (CI and the dev machines run as root).
system-deps:
	bash scripts/install-system-deps.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Test files run on two workers (their own homes, ports and databases), which keep both cores
# busy (Dagster's run workers, PostgreSQL, the model): four took 30 min on a quiet 2-core
# machine and missed start-up deadlines. Files are handed out longest first
# (tests/support/file_order.py), not xdist's most-tests-first. The set-up steps run side by
# side (apt's downloads beside pip's, the model export beside the linters).
test:
	$(MAKE) --no-print-directory -j3 --output-sync=target models bytecode system-deps lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=30

test-fast: venv
	$(BIN)/python -m pytest tests/unit

# The fault suite alone (also part of `make test`): docs/operations.md, "Failures and recovery".
test-faults: models
	$(BIN)/python -m pytest tests/faults

bench: models
	$(BIN)/python bench/chunking.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/freshness.py

# Search quality on a BEIR-layout set (default: the shared pyfaq set beside the repository):
# indexed through the real pipeline, every query through /v1/search, against a dense baseline.
# The first run embeds everything (~15 min on 2 cores); the embedding cache makes re-runs fast.
QUALITY_SET ?= ../shared/eval/pyfaq
bench-quality: models
	@test -f $(QUALITY_SET)/corpus.jsonl || { echo "no BEIR set at $(QUALITY_SET) (set QUALITY_SET=DIR)"; exit 2; }
	$(BIN)/python bench/quality.py $(QUALITY_SET)

# PressRAG beside LlamaIndex and LangChain on one corpus, model and PostgreSQL (issue #15;
# docs/performance.md). Builds the peers' virtualenvs under bench-output/peers-venvs the first
# time (a few minutes); the corpus is Debian's python3.11-doc (installed here when apt can),
# else the sample site ×5. PEERS_ARGS="--pages 300" for the issue's size.
PEERS_ARGS ?=
bench-peers: models
	@test -d /usr/share/doc/python3.11/html || apt-get install -y -q python3.11-doc >/dev/null 2>&1 \
		|| echo "python3.11-doc not installable: the corpus is the sample site ×5"
	$(BIN)/python bench/peers/run.py $(PEERS_ARGS)

clean:
	rm -rf .pressrag .pytest_cache test-output
