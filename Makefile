# Makefile - builds litecached, its unit tests and the sanitizer build; `make run` and `make test` are the README's two commands.
CC      ?= cc
PKGS    := sqlite3 libevent libevent_pthreads inih libcrypto
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
OPT     ?= -O2 -g
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  += $(CSTD) $(WARN) $(OPT) $(PKG_CFLAGS) -Iproxy -Icache -Ibench -pthread
LDLIBS  += $(PKG_LIBS) -pthread -lm
BUILD   ?= build
BIN     ?= litecached
# The load generator gets its own name per build: the sanitizer build's must never stand in for the
# optimized one that `make bench-*` runs (it once did, and cost the benchmarks a quarter of their rate).
BENCH_BIN ?= litecached-bench

# Every module is one .c + one .h; main.c alone is not linked into the unit tests.
SRCS    := $(wildcard proxy/*.c cache/*.c)
ASMS    := $(wildcard proxy/*.S)
# The benchmark tool: bench/bench.c is its main; its other modules join the test archive.
BENCH_MAIN := bench/bench.c
BENCH_LIB  := $(filter-out $(BENCH_MAIN),$(wildcard bench/*.c))
LIBSRCS := $(filter-out proxy/main.c,$(SRCS)) $(BENCH_LIB)
OBJS    := $(SRCS:%.c=$(BUILD)/%.o) $(ASMS:%.S=$(BUILD)/%.o)
LIBOBJS := $(LIBSRCS:%.c=$(BUILD)/%.o) $(ASMS:%.S=$(BUILD)/%.o)
TESTSRCS := $(wildcard tests/unit/test_*.c)
TESTBINS := $(TESTSRCS:tests/unit/%.c=$(BUILD)/tests/%)
SCHEMA_FILES := $(wildcard schema/*.sql)

.PHONY: all deps run test unit integration asan test-asan clean bench bench-compare bench-goals bench-replica
all: $(BIN) $(if $(wildcard $(BENCH_MAIN)),$(BENCH_BIN))

$(BIN): $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c $(wildcard proxy/*.h cache/*.h bench/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The SQL files are embedded with .incbin, so the object depends on them.
$(BUILD)/%.o: %.S $(SCHEMA_FILES)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BENCH_BIN): $(BUILD)/$(BENCH_MAIN:.c=.o) $(BUILD)/liblitecached.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests link against an archive, so each pulls in only the modules it uses.
$(BUILD)/liblitecached.a: $(LIBOBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/liblitecached.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/liblitecached.a $(LDLIBS) $(shell pkg-config --libs cmocka)

deps:
	@scripts/install-deps

run: deps
	@$(MAKE) --no-print-directory litecached
	./litecached

unit: $(TESTBINS)
	@set -e; for t in $(TESTBINS); do echo "== $$t"; $$t; done

integration: $(BIN) $(BENCH_BIN)
	LITECACHED_BIN=$(CURDIR)/$(BIN) LITECACHED_BENCH_BIN=$(CURDIR)/$(BENCH_BIN) /usr/bin/python3 -m pytest -q tests/integration

test: deps
	@$(MAKE) --no-print-directory unit integration

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build tree, each
# file's tests in reverse order (tests/integration/conftest.py), so no test leans on the one before.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASANVARS := BUILD=build-asan BIN=litecached-asan BENCH_BIN=litecached-bench-asan OPT="-O1 -g $(SAN)"
asan:
	@$(MAKE) --no-print-directory $(ASANVARS) litecached-asan
# A smaller quarantine than ASan's 256 MB default, so the tests that bound the server's RSS measure
# the server rather than freed memory ASan holds back (32 MB still catches a use soon after free).
test-asan: deps
	@LITECACHED_TEST_ORDER=reverse ASAN_OPTIONS="$${ASAN_OPTIONS:-quarantine_size_mb=32}" $(MAKE) --no-print-directory $(ASANVARS) unit integration

clean:
	rm -rf build build-asan build-fuzz litecached litecached-asan litecached-bench litecached-bench-asan

# Benchmarks (bench/README.md): the standard suite, and the comparison with Redis, PostgreSQL and SQLite.
bench: all
	bench/run-suite.sh

bench-compare: all
	bench/compare.sh

bench-goals: all
	bench/goals.sh

# read_replica = memory vs off: uncached reads and writes on 1,000,000 users (bench/results/replica-latest.md).
bench-replica: all
	bench/replica.sh

# libFuzzer harnesses for every parser of untrusted bytes (clang). `make fuzz` builds them;
# `make fuzz-run` runs each for FUZZ_SECONDS on a scratch copy of its seed corpus.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_MODS    := proxy/buf.c proxy/errmsg.c proxy/lineproto.c cache/sqlnorm.c proxy/pgwire.c proxy/pgval.c proxy/pglex.c \
                proxy/pgstmt.c proxy/pgsql.c proxy/sqlfn.c
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
.PHONY: fuzz fuzz-run
fuzz: $(FUZZ_BINS)
build-fuzz/%: tests/fuzz/%.c $(FUZZ_MODS) $(wildcard proxy/*.h cache/*.h tests/fuzz/*.h)
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(CSTD) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Iproxy -Icache -o $@ $< $(FUZZ_MODS) -lsqlite3 -lm
fuzz-run: fuzz
	@set -e; for b in $(FUZZ_BINS); do \
		name=$${b#build-fuzz/fuzz_}; work=$$(mktemp -d); \
		cp -r tests/fuzz/corpus/$$name/. $$work/ 2>/dev/null || true; \
		echo "== $$b ($(FUZZ_SECONDS) s)"; \
		status=0; $$b -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=build-fuzz/ \
			$$work > build-fuzz/$$name.log 2>&1 || status=$$?; \
		rm -rf $$work; \
		if [ $$status -ne 0 ]; then tail -n 40 build-fuzz/$$name.log; exit $$status; fi; \
		grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" build-fuzz/$$name.log; \
	done

# Installation (README "Operations"): `make install [PREFIX=/usr/local] [DESTDIR=/stage]`. An existing
# config file is left alone; the unit's paths follow PREFIX. The man page's OPTIONS come from --help.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= $(PREFIX)/etc
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
.PHONY: install uninstall man
man: $(BUILD)/litecached.1
$(BUILD)/litecached.1: doc/litecached.1.in scripts/gen-man $(BIN)
	@mkdir -p $(dir $@)
	$(abspath $(BIN)) --help | scripts/gen-man doc/litecached.1.in "$$($(abspath $(BIN)) --version)" > $@.tmp && mv $@.tmp $@
install: all $(BUILD)/litecached.1
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/litecached $(DESTDIR)$(DATADIR)/litecached/schema \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR)
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/litecached
	if [ -f $(BENCH_BIN) ]; then install -m 755 $(BENCH_BIN) $(DESTDIR)$(BINDIR)/litecached-bench; fi
	[ -e $(DESTDIR)$(SYSCONFDIR)/litecached/litecached.conf ] || \
		install -m 644 config/litecached.conf $(DESTDIR)$(SYSCONFDIR)/litecached/litecached.conf
	install -m 644 $(filter-out schema/queries.sql,$(SCHEMA_FILES)) $(DESTDIR)$(DATADIR)/litecached/schema/
	install -m 644 schema/queries.sql $(DESTDIR)$(DATADIR)/litecached/queries.sql
	install -m 644 $(BUILD)/litecached.1 $(DESTDIR)$(MANDIR)/man1/litecached.1
	sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/usr/local/etc/|$(SYSCONFDIR)/|g' config/litecached.service \
		> $(DESTDIR)$(UNITDIR)/litecached.service && chmod 644 $(DESTDIR)$(UNITDIR)/litecached.service
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/litecached $(DESTDIR)$(BINDIR)/litecached-bench $(DESTDIR)$(MANDIR)/man1/litecached.1 \
		$(DESTDIR)$(UNITDIR)/litecached.service
	rm -rf $(DESTDIR)$(DATADIR)/litecached
	@echo "uninstall: $(DESTDIR)$(SYSCONFDIR)/litecached/litecached.conf is kept"
