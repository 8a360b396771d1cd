# Thin wrapper over CMake. The real build is CMakeLists.txt.
#
#   make            install missing Debian packages, configure and build (build/)
#   make run        build and start taas-server on the embedded SQLite default, with the
#                   dashboard at http://127.0.0.1:8080/
#   make test       build and run every test through ctest
#   make test-asan  the same suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#   make new-task NAME=foo   scaffold task-specs/foo.yaml and tasks/foo.c
#   make check-generated     fail if generated/ is not what the generator writes
#   make soak       the crash tests' kill matrix, as many seeds as fit in SOAK_SECONDS
#                   (default 900, shared by the points), larger task mixes (docs/reliability.md)
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGET=json]   libFuzzer targets, clang (build-fuzz/)
#
# WERROR=1 turns warnings into errors (CI sets it). BUILD_TYPE defaults to RelWithDebInfo.

BUILD_DIR   ?= build
BUILD_TYPE  ?= RelWithDebInfo
WERROR      ?= 0
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS  ?=
CMAKE_FLAGS ?=
PYTHON      ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)

.PHONY: all build deps deps-test configure run test test-asan new-task check-generated clean bench soak \
        fuzz

all: build

deps:
	@sh scripts/deps.sh build

deps-test:
	@sh scripts/deps.sh test

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTAAS_WERROR=$(WERROR) $(CMAKE_FLAGS)

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTAAS_WERROR=$(WERROR) $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The dashboard and the HTTP API at http://127.0.0.1:8080/ (TAAS_HTTP=off: none).
run: build
	TAAS_HTTP=$${TAAS_HTTP:-127.0.0.1:8080} ./$(BUILD_DIR)/taas-server

# Every test the tree declares (tests/TESTS) must be registered: a missing
# dependency fails here instead of dropping tests without a word.
test: deps-test
	$(MAKE) build
	@sh scripts/check-tests.sh $(BUILD_DIR)
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# Sanitizers make every call 2-3x slower: the watch storm's bound on the
# health check's p99 (50 ms) is relaxed to 150 ms here, and only here.
test-asan:
	TAAS_STORM_P99_BOUND_S=0.15 $(MAKE) test BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_FLAGS="-DTAAS_SANITIZE=ON $(CMAKE_FLAGS)"

new-task:
	@test -n "$(NAME)" || { echo "usage: make new-task NAME=foo" >&2; exit 2; }
	@$(PYTHON) codegen/new_task.py "$(NAME)"

check-generated: build
	@git diff --exit-code --stat -- generated/ client/python/taas_client/_proto \
	  client/python/taas_client/tasks.py client/node/tasks.d.ts client/node/tasks.js || { \
	  echo "generated/ is stale: run 'make' and commit generated/" >&2; exit 1; }

# Each target (or only FUZZ_TARGET) for FUZZ_SECONDS; docs/fuzzing.md.
FUZZ_SECONDS ?= 60
FUZZ_TARGET  ?=
fuzz:
	@sh scripts/deps.sh fuzz
	sh tests/fuzz/run.sh -s $(FUZZ_SECONDS) -j $(JOBS) $(if $(FUZZ_TARGET),-t $(FUZZ_TARGET))

SOAK_SECONDS ?= 900
SOAK_POINTS  ?= all

# The crash scripts take the Python stubs the build writes, as under ctest.
SOAK_ENV = TAAS_PY_STUBS=$(CURDIR)/$(BUILD_DIR)/tests/integration/py GRPC_DNS_RESOLVER=native \
	   GRPC_VERBOSITY=ERROR GRPC_ENABLE_FORK_SUPPORT=false

soak: build
	$(SOAK_ENV) $(PYTHON) tests/crash/kill_matrix.py $(BUILD_DIR)/taas-server-fi \
	  --point $(SOAK_POINTS) --soak-seconds $(SOAK_SECONDS) --first-seed 1000
	$(SOAK_ENV) $(PYTHON) tests/crash/stale_worker.py $(BUILD_DIR)/taas-server-fi --tasks 100

bench: build
	./$(BUILD_DIR)/taas-bench

clean:
	rm -rf $(BUILD_DIR) build-asan build-fuzz
