# webhook-bridge: one plain Makefile.
#   make            build build/webhook-bridge
#   make test       unit + end-to-end tests (installs missing Debian packages)
#   make asan|tsan  the whole suite under AddressSanitizer+UBSan / ThreadSanitizer
#   make demo       the bridge on the embedded Kafka with local receivers
#   make bench      throughput/latency/CPU/RSS benchmark against nginx
#   make chaos      the fleet campaign: 3 replicas, CHAOS_KILLS kill -9 over CHAOS_EVENTS
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (60) each; fuzz-replay for CI
#   make help       every target

CC       ?= cc
SANITIZER ?=
VARIANT  := $(if $(SANITIZER),$(SANITIZER),release)
OBJDIR   := build/$(VARIANT)
PKGS     := rdkafka libcurl jansson libconfig libmicrohttpd openssl

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wwrite-strings -Wpointer-arith -Wundef -Wvla -Wold-style-definition \
            -Wno-format-nonliteral
OPT      ?= -O2
CFLAGS   += -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -MMD -MP -pthread \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread -lm

ifeq ($(SANITIZER),address)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SANITIZER),thread)
CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
endif

SRCS     := $(wildcard bridge/*.c)
OBJS     := $(SRCS:bridge/%.c=$(OBJDIR)/bridge/%.o)
LIBOBJS  := $(filter-out $(OBJDIR)/bridge/main.o,$(OBJS))
ifeq ($(SANITIZER),thread)
# glibc's C11 threads on pthreads, so TSan sees librdkafka's threads and
# locks (tests/tsan/c11threads.c says why): in every binary of this build.
OBJS     += $(OBJDIR)/tsan/c11threads.o
LIBOBJS  += $(OBJDIR)/tsan/c11threads.o
endif
UNITSRCS := $(wildcard tests/unit/test_*.c)
UNITS    := $(UNITSRCS:tests/unit/%.c=$(OBJDIR)/tests/%)
HELPSRCS := $(wildcard tests/helpers/*.c)
HELPERS  := $(HELPSRCS:tests/helpers/%.c=$(OBJDIR)/helpers/%)

ifeq ($(VARIANT),release)
BIN := build/webhook-bridge
else
BIN := $(OBJDIR)/webhook-bridge
endif

.PHONY: all deps test check unit e2e asan tsan valgrind bench demo format format-check lint \
        clean help reference deploy-check fuzz fuzz-build fuzz-replay chaos
all: $(BIN) $(HELPERS)

ifeq ($(SANITIZER),thread)
# Objects of one compiler only: a change of CC rebuilds them all, since
# GCC's and clang's TSan runtimes do not mix.
$(OBJS): $(OBJDIR)/cc
$(OBJDIR)/cc: FORCE
	@mkdir -p $(@D)
	@echo '$(CC)' | cmp -s - $@ || echo '$(CC)' >$@
.PHONY: FORCE
FORCE:
endif

$(BIN): $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OBJDIR)/bridge/%.o: bridge/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(OBJDIR)/tsan/%.o: tests/tsan/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(OBJDIR)/tests/%: tests/unit/%.c $(LIBOBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ibridge $(LDFLAGS) -o $@ $< $(LIBOBJS) $(LDLIBS) -lcmocka

$(OBJDIR)/helpers/%: tests/helpers/%.c $(LIBOBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ibridge $(LDFLAGS) -o $@ $< $(LIBOBJS) $(LDLIBS)

deps:
	@sh scripts/deps.sh

# The whole suite: unit tests (cmocka) then end-to-end tests on the embedded
# Kafka with real HTTP receivers.  Ends with "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory all $(UNITS)
	@sh tests/run.sh $(OBJDIR) $(BIN)

check: test

unit: deps
	@$(MAKE) --no-print-directory all $(UNITS)
	@TESTS_ONLY=unit sh tests/run.sh $(OBJDIR) $(BIN)

e2e: deps
	@$(MAKE) --no-print-directory all
	@TESTS_ONLY=e2e sh tests/run.sh $(OBJDIR) $(BIN)

asan:
	@$(MAKE) --no-print-directory SANITIZER=address test

# ThreadSanitizer, built by clang (TSAN_CC, installed by scripts/fuzz.sh
# deps when missing), on the unit tests and on the end-to-end tests that run
# the delivery workers, the consumers and the producer together (TSAN_TESTS;
# empty: every one), on the mock cluster.  Every binary of build/thread/ has
# tests/tsan/c11threads.c, so TSan sees librdkafka's C11 threads and locks;
# tests/tsan/tsan.supp ignores what librdkafka itself does (each line says
# why).  A report stops the process (halt_on_error) and fails the test, as
# does one found in any log of a test (tests/run.sh), so a race fails the run.
TSAN_CC      ?= clang-14
TSAN_TESTS   ?= routing retry failures breaker kill9 sigterm rebalance faults newdelay poison \
                registry admin
TSAN_OPTS    := halt_on_error=1 exitcode=66 second_deadlock_stack=1 \
                suppressions=$(CURDIR)/tests/tsan/tsan.supp
tsan: deps
	@case '$(TSAN_CC)' in clang*) FUZZ_CC=$(TSAN_CC) sh scripts/fuzz.sh deps ;; esac
	@$(MAKE) --no-print-directory SANITIZER=thread CC=$(TSAN_CC) all \
	    $(UNITS:$(OBJDIR)/%=build/thread/%)
	@TSAN_OPTIONS="$(TSAN_OPTS) $${TSAN_OPTIONS:-}" KAFKA=mock TESTS="$(TSAN_TESTS)" \
	    sh tests/run.sh build/thread build/thread/webhook-bridge

valgrind: deps
	@$(MAKE) --no-print-directory all $(UNITS)
	@VALGRIND=1 TESTS_ONLY=unit sh tests/run.sh $(OBJDIR) $(BIN)

# The benchmark (bench/run.sh, whose header lists the runs and the BENCH_*
# knobs): seed 002's 1.5 KB event at the default config; throughput for 1
# and 4 endpoints per event beside wrk's HTTP limit on the same nginx, rss
# (10,000 in flight), https (the same drain over TLS, verified through
# delivery.ca_file), latency, routing, isolation, records.  Writes
# build/bench-results.md and a PNG of deliveries per 100 ms per drain.
bench: deps
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh $(BIN) $(OBJDIR)

# The fleet campaign (issue 9): tests/e2e/fleet.sh, the suite's short test,
# at full size.  3 replicas on the 3-broker mock cluster, CHAOS_KILLS kill -9
# of random replicas at random instants (8 s apart on average) over
# CHAOS_EVENTS events, plus its rolling SIGTERM restarts, broker outage,
# leader moves and request errors.  Prints events, pairs, lost, stuck,
# duplicates (in all and per kill), retry lateness p50/p99/max; fails when a
# guarantee does not hold.  Logs in $(OBJDIR)/chaos/.  CPU heavy.
# CHAOS_SEED fixes the fault plan (empty: random, printed), so two runs can
# differ in one knob only; CHAOS_STATIC=1 gives each replica a stable
# group.instance.id (static membership; FLEET_STATIC in fleet.sh);
# CHAOS_SESSION_MS sets the consumers' session.timeout.ms (empty: 6000).
CHAOS_KILLS    ?= 50
CHAOS_EVENTS   ?= 100000
CHAOS_RESTARTS ?= 6
CHAOS_SECONDS  ?= $(shell echo $$(( $(CHAOS_KILLS) * 8 > 60 ? $(CHAOS_KILLS) * 8 : 60 )))
CHAOS_WINDOW   ?= 60
CHAOS_SEED     ?=
CHAOS_STATIC   ?= 0
CHAOS_SESSION_MS ?=
chaos: deps
	@$(MAKE) --no-print-directory all
	@KAFKA=$(or $(KAFKA),mock) FLEET_REAL=1 FLEET_KILLS=$(CHAOS_KILLS) FLEET_EVENTS=$(CHAOS_EVENTS) \
	    FLEET_RESTARTS=$(CHAOS_RESTARTS) FLEET_SECONDS=$(CHAOS_SECONDS) \
	    FLEET_WINDOW=$(CHAOS_WINDOW) FLEET_PARTITIONS=12 FLEET_SEED=$(CHAOS_SEED) \
	    FLEET_STATIC=$(CHAOS_STATIC) FLEET_SESSION_MS=$(CHAOS_SESSION_MS) \
	    FLEET_DEAD_EVERY=$$(( $(CHAOS_EVENTS) / 2000 + 1 )) \
	    FLEET_RF_EVERY=$$(( $(CHAOS_EVENTS) / 20000 + 1 )) BIN=$(BIN) HELPERS=$(OBJDIR)/helpers \
	    TEST_LOG_DIR=$(OBJDIR)/chaos sh tests/e2e/fleet.sh $(BIN)

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh $(BIN)

# deploy/ checked for real, offline: yamllint, the Kubernetes schemas of
# ../shared/k8s-schemas (skipped, and said so, when absent), the shipped
# config, kustomize, and the image built and run with podman.
deploy-check: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/deploy-check.sh $(BIN)

reference: $(BIN)
	@$(BIN) config-reference > docs/configuration.md

# Fuzzing: libFuzzer targets (tests/fuzz/fuzz_*.c) built by clang against
# the daemon's own objects, compiled again into build/fuzz/ with the
# fuzzer's coverage and ASan+UBSan.  scripts/fuzz.sh installs clang and its
# libFuzzer runtime when missing, runs the targets one after another, and
# writes what they find to build/fuzz/ (never into tests/fuzz/corpus/).
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZDIR      := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) -MMD -MP -pthread $(FUZZ_SAN) \
                $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZOBJS     := $(filter-out $(FUZZDIR)/bridge/main.o,$(SRCS:bridge/%.c=$(FUZZDIR)/bridge/%.o))
FUZZSRCS     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS      := $(FUZZSRCS:tests/fuzz/%.c=$(FUZZDIR)/%)
.SECONDARY: $(FUZZOBJS)

$(FUZZDIR)/bridge/%.o: bridge/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZDIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZOBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Ibridge -o $@ $< $(FUZZOBJS) $(LDLIBS)

fuzz-build: deps
	@sh scripts/fuzz.sh deps
	@$(MAKE) --no-print-directory $(FUZZERS)

# Each target for FUZZ_SECONDS, new inputs kept in build/fuzz/corpus/.
fuzz: fuzz-build
	@FUZZ_CC=$(FUZZ_CC) sh scripts/fuzz.sh run $(FUZZ_SECONDS) $(FUZZERS)

# For CI: every committed corpus input once, then each target for
# FUZZ_SMOKE_SECONDS; fails on any crash, leak or undefined behaviour.
fuzz-replay: fuzz-build
	@FUZZ_CC=$(FUZZ_CC) sh scripts/fuzz.sh replay $(FUZZ_SMOKE_SECONDS) $(FUZZERS)

format:
	clang-format -i bridge/*.c bridge/*.h tests/unit/*.c tests/helpers/*.c \
	    tests/fuzz/*.c tests/fuzz/*.h tests/tsan/*.c

format-check:
	clang-format --dry-run --Werror bridge/*.c bridge/*.h tests/unit/*.c tests/helpers/*.c \
	    tests/fuzz/*.c tests/fuzz/*.h tests/tsan/*.c

# cppcheck plus a grep for calls that have no place here (curl's checksrc).
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	    --std=c11 --inline-suppr -D_GNU_SOURCE -Ibridge bridge tests/unit tests/helpers tests/fuzz \
	    tests/tsan
	@! grep -nE '\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets)\s*\(' \
	    bridge/*.c tests/unit/*.c tests/helpers/*.c tests/fuzz/*.c tests/fuzz/*.h tests/tsan/*.c || \
	    { echo "banned call above"; exit 1; }

clean:
	rm -rf build

help:
	@echo "targets: all deps test check unit e2e asan tsan valgrind bench chaos demo deploy-check"
	@echo "         fuzz fuzz-replay format format-check lint reference clean help"
	@echo "variables: SANITIZER=address|thread  CC=...  FUZZ_SECONDS=60  FUZZ_SMOKE_SECONDS=10"
	@echo "           CHAOS_KILLS=50 CHAOS_EVENTS=100000 CHAOS_RESTARTS=6 CHAOS_SECONDS CHAOS_WINDOW=60 KAFKA=mock"
	@echo "           CHAOS_SEED (empty: random)  CHAOS_STATIC=0|1 (group.instance.id per replica)  CHAOS_SESSION_MS (6000)"
	@echo "           TSAN_CC=clang-14|gcc  TSAN_TESTS=\"routing ...\" (empty: every e2e test)"

-include $(OBJS:.o=.d) $(UNITS:=.d) $(HELPERS:=.d)
-include $(FUZZOBJS:.o=.d) $(FUZZERS:=.d)
