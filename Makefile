# saga-harness: `make demo` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast test-toxiproxy-py312 up down status bench load load-chaos zoo lint mutation fuzz clean test-replicas test-cluster bench-scale load-distributed compare test-all zoo-all test-deadlines bench-tracing test-replicas-all

install: $(STAMP)

# Reinstall only when the project's metadata changed; quiet when nothing did.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)
	@echo "installed into $(VENV)"

up: install
	@$(BIN)/saga-harness up

down: install
	@$(BIN)/saga-harness down

status: install
	@$(BIN)/saga-harness status

demo: install
	@$(BIN)/saga-harness up
	@$(BIN)/saga-harness demo

test: install
	@mkdir -p reports
	@$(BIN)/python -m pytest -q -p no:cacheprovider --cucumberjson=reports/cucumber.json --junitxml=reports/junit.xml

test-fast: install
	@$(BIN)/python -m pytest -q -p no:cacheprovider -m "not integration"

# `up --broker-nodes 3` (the instance's own RabbitMQ cluster): broker-node-loss, also with `--replicas 2` on
# PostgreSQL, and broker-node-partition (nftables, root); about six minutes.
test-cluster: install
	@command -v nft >/dev/null || { echo "installing nftables (the partition's rules)"; apt-get install -y -q nftables >/dev/null; }
	@SAGA_TEST_CLUSTER=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/integration/test_replicas.py -k cluster

bench-scale: install
	@$(BIN)/python bench/bench_scale.py

# Issue #17's acceptance run (about a minute): two processes per service on PostgreSQL
# (SAGA_TEST_POSTGRES, default 127.0.0.1:5432 as postgres), a payment replica SIGKILLed mid-batch.
test-replicas: install
	@SAGA_TEST_REPLICAS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/integration/test_replicas.py tests/unit/test_store_postgres_replicas.py

# The whole suite (all but the broker restarts, which would disturb the shared broker longer with
# twice the processes) against two processes per service on PostgreSQL: every instance the tests
# start runs SAGA_REPLICAS of each service, on a database of its own (saga_<instance>) on
# SAGA_STORE's server. Not part of `make test`; about 11 minutes (make test: 9 here).
REPLICAS_STORE ?= $(or $(SAGA_TEST_POSTGRES),postgresql://postgres@127.0.0.1:5432/postgres)
test-replicas-all: install
	@mkdir -p reports
	@SAGA_STORE=$(REPLICAS_STORE) SAGA_REPLICAS=$${SAGA_REPLICAS:-2} $(BIN)/python -m pytest -q -p no:cacheprovider -m "not broker_restart" --junitxml=reports/junit-replicas.xml

# Issue #16's acceptance in both saga styles (about two minutes): SAGA_STEP_TIMEOUT=3, the payment
# service cut off from the broker; the deadline features and properties. Figures: SAGA_DEADLINE_FIGURES=file.
test-deadlines: install
	@SAGA_TEST_BOTH_STYLES=1 $(BIN)/python -m pytest -q -p no:cacheprovider -s tests/integration/test_deadlines.py features/test_deadlines.py tests/sim/test_deadline_properties.py tests/unit/test_deadlines.py tests/unit/test_invariants_deadlines.py

# The bundled Toxiproxy runs as its own process on whatever Python starts it, and asyncio's
# servers changed in 3.12: its tests also run on 3.12, in a venv holding only what they import
# (tests/toxiproxy/requirements.py), without the rest of the project's dependencies or conftest.
PY312 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12.*/bin/python3.12) $(shell command -v python3.12 2>/dev/null))
VENV312 := .venv-py312

$(VENV312)/.installed: pyproject.toml
	@test -n "$(PY312)" || { echo "no Python 3.12 found: make test-toxiproxy-py312 PY312=/path/to/python3.12" >&2; exit 1; }
	@test -x $(VENV312)/bin/python || $(PY312) -m venv $(VENV312)
	@$(VENV312)/bin/python -m pip install --quiet $$($(VENV312)/bin/python tests/toxiproxy/requirements.py)
	@touch $@

test-toxiproxy-py312: $(VENV312)/.installed
	@PYTHONPATH=. $(VENV312)/bin/python -m pytest -q -p no:cacheprovider --confcutdir=tests/toxiproxy tests/toxiproxy

bench: install
	@echo "== proxy: loopback echo direct vs through the bundled Toxiproxy"; $(BIN)/python bench/bench_proxy.py
	@echo "== saga: AMQP ceiling vs end-to-end sagas/s"; $(BIN)/python bench/bench_saga.py
	@echo "== scale: sagas/s for 1 and 2 replicas, SQLite vs PostgreSQL; open-loop latency at half the max; py-spy"; $(BIN)/python bench/bench_scale.py
	@echo "== checker: invariants over 1,000,000 recorded messages"; $(BIN)/python bench/bench_checker.py --messages 1000000
	@echo "== simulator: simulated sagas/s with every invariant checked"; $(BIN)/python bench/bench_sim.py

# What tracing costs (issue #18): sagas/s and the services' CPU per saga, SAGA_TRACING off vs on,
# alternating on a fresh instance (ports 22201-22204, its OTLP receiver on 22518).
bench-tracing: install
	@$(BIN)/python bench/bench_tracing.py

# A short headless Locust run against the local system; ends with a consistency verdict.
load: install
	@mkdir -p reports
	@$(BIN)/saga-harness up
	@$(BIN)/locust -f load/locustfile.py --headless -u 20 -r 10 -t 30s --host http://127.0.0.1:8001 --only-summary --html reports/load.html

# Locust's own master and K workers (LOAD_WORKERS, default 2), each worker a process of its own;
# at stop every worker sends its operations to the master, which runs the consistency verdict:
# its exit code ends the run. Against whatever SAGA_HOME/ports name (`saga-harness up` first,
# e.g. `up --replicas 2` on PostgreSQL).
LOAD_WORKERS ?= 2
LOCUST_MASTER_PORT ?= 5557
load-distributed: install
	@mkdir -p reports
	@$(BIN)/saga-harness up
	@seed=$${SAGA_LOAD_SEED:-$$(( ($$RANDOM << 15) | $$RANDOM ))}; echo "load-distributed: seed $$seed, $(LOAD_WORKERS) workers"; \
	for i in $$(seq $(LOAD_WORKERS)); do \
	  $(BIN)/locust -f load/locustfile.py --worker --master-port $(LOCUST_MASTER_PORT) --saga-seed $$seed --only-summary > reports/load-worker-$$i.log 2>&1 & \
	done; \
	$(BIN)/locust -f load/locustfile.py --master --master-bind-port $(LOCUST_MASTER_PORT) --expect-workers $(LOAD_WORKERS) --saga-seed $$seed \
	  --headless -u 20 -r 10 -t 30s --host http://127.0.0.1:$${SAGA_ORDER_PORT:-8001} --only-summary --html reports/load-distributed.html; \
	code=$$?; wait; exit $$code

# The same with staged faults: warm-up, latency on every link, a crash, heal.
load-chaos: install
	@mkdir -p reports
	@$(BIN)/saga-harness up --chaos
	@$(BIN)/locust -f load/locustfile.py,load/shapes.py --headless -u 20 -r 10 -t 60s --host http://127.0.0.1:8001 --only-summary --html reports/load-chaos.html

# Issue #15: orchestration vs choreography from measured runs (load, bus messages, simulator, zoo,
# every shipped experiment but broker-restart and mixed, which restart the shared broker): one table.
compare: install
	@$(BIN)/python bench/compare_styles.py --experiments latency,partition,duplicate-storm,sender-retries,scarce-stock,handler-faults,crash-loop

# The full matrix: everything `make test` runs, then the whole suite again with SAGA_STYLE=choreography.
test-all: test
	@SAGA_STYLE=choreography $(BIN)/python -m pytest -q -p no:cacheprovider --junitxml=reports/junit-choreography.xml

# The defect zoo in both styles (each defect where it makes sense).
zoo-all: install
	@$(BIN)/saga-harness zoo --detectors all --style both

# Every opt-in defect, caught by a simulation AND by a chaos experiment on real processes.
zoo: install
	@$(BIN)/saga-harness zoo --detectors all

# The checker checked: disable each violation site of every invariant in turn; some test must fail.
mutation: install
	@$(BIN)/python tools/mutation.py

# schemathesis against every service's OpenAPI, on a fresh instance of its own (ports 25001-25004,
# vhost saga_fuzz): bounded, seeded (printed; SAGA_FUZZ_SEED=N replays), fails on a 5xx, a hang or
# a response that does not match its schema. Not part of `make test`.
fuzz: install
	@$(BIN)/python tools/fuzz.py

# ruff over everything; mypy over system/ and harness/ (the files and settings: [tool.mypy]).
lint: install
	@$(BIN)/ruff check .
	@$(BIN)/mypy

clean: down
	rm -rf .saga runs reports
