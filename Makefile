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

.PHONY: all deps run test unit integration asan test-asan clean
all: $(BIN) $(if $(wildcard $(BENCH_MAIN)),litecached-bench)

$(BIN): $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c $(wildcard proxy/*.h cache/*.h bench/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The SQL files are embedded with .incbin, so the object depends on them.
$(BUILD)/%.o: %.S $(SCHEMA_FILES)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

litecached-bench: $(BUILD)/$(BENCH_MAIN:.c=.o) $(BUILD)/liblitecached.a
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

integration: $(BIN)
	LITECACHED_BIN=$(CURDIR)/$(BIN) /usr/bin/python3 -m pytest -q tests/integration

test: deps
	@$(MAKE) --no-print-directory unit integration

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build tree.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASANVARS := BUILD=build-asan BIN=litecached-asan OPT="-O1 -g $(SAN)"
asan:
	@$(MAKE) --no-print-directory $(ASANVARS) litecached-asan
test-asan: deps
	@$(MAKE) --no-print-directory $(ASANVARS) unit integration

clean:
	rm -rf build build-asan litecached litecached-asan
