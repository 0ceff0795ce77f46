# modelsync: one GNU Makefile, Debian packages through pkg-config, nothing vendored.
#   make              release build of ./modelsync
#   make run          install missing packages, build, start the server on ./data
#   make test         install missing packages, sanitizer build, every test tier
#   make check        the test tiers without the package step (SANITIZE=1 for ASan+UBSan)
#   make check-layers lint fuzz bench clean

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 libcurl libsodium libxxhash
WITH_PG ?= auto
ifeq ($(WITH_PG),auto)
WITH_PG := $(shell pkg-config --exists libpq && echo 1 || echo 0)
endif
ifeq ($(WITH_PG),1)
PKGS    += libpq
PGDEF   := -DMS_WITH_PG=1
else
PGDEF   := -DMS_WITH_PG=0
endif

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
           -Wcast-qual -Wformat=2 -Wundef -Werror
CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
PKGCF   := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKGLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
CFLAGS  ?= -O2 -g
ALLCF   := $(CSTD) $(WARN) $(CFLAGS) $(PGDEF) -Isrc -Ibuild/gen $(PKGCF)

SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ifeq ($(SANITIZE),1)
TESTCF  := -O1 -g $(SAN)
else
TESTCF  := -O1 -g
endif

SRCS     := $(shell find src -name '*.c' | sort)
LIBSRCS  := $(filter-out src/main.c,$(SRCS))
MIGS     := $(sort $(wildcard src/store/migrations/*.sql))
GEN      := build/gen/migrations_gen.c
OBJS     := $(patsubst src/%.c,build/rel/%.o,$(SRCS)) build/rel/gen/migrations_gen.o
TOBJS    := $(patsubst src/%.c,build/test/%.o,$(LIBSRCS)) build/test/gen/migrations_gen.o
TMAIN    := build/test/main.o
UNITSRCS := $(sort $(wildcard tests/unit/*.c))

.PHONY: all run test check unit deps check-layers lint fuzz bench clean
all: modelsync

modelsync: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(PKGLIBS)

$(GEN): $(MIGS) scripts/embed-migrations.sh
	@mkdir -p $(dir $@)
	sh scripts/embed-migrations.sh $(MIGS) > $@.tmp && mv $@.tmp $@

build/rel/gen/migrations_gen.o: $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCF) -c -o $@ $<
build/test/gen/migrations_gen.o: $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCF) $(TESTCF) -DMS_TESTING -c -o $@ $<

build/rel/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCF) -MMD -MP -c -o $@ $<
build/test/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCF) $(TESTCF) -DMS_TESTING -MMD -MP -c -o $@ $<

# The test server binary and the unit-test binary share the same -DMS_TESTING objects.
build/test/modelsync: $(TOBJS) $(TMAIN)
	$(CC) $(TESTCF) -o $@ $^ $(PKGLIBS)
build/test/unit: $(UNITSRCS) $(TOBJS)
	$(CC) $(ALLCF) $(TESTCF) -DMS_TESTING -Wno-missing-prototypes -o $@ $(UNITSRCS) $(TOBJS) \
	    $(PKGLIBS) $(shell pkg-config --cflags --libs criterion)

deps:
	@sh scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory modelsync
	./modelsync serve --data ./data

test: deps
	@$(MAKE) --no-print-directory SANITIZE=1 check

check: build/test/modelsync build/test/unit
	@sh tests/run.sh

unit: build/test/unit
	./build/test/unit

check-layers:
	@sh scripts/check-layers.sh

lint: check-layers
	clang-format --dry-run -Werror $(SRCS) $(shell find src -name '*.h')
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr -Isrc $(PGDEF) src

fuzz:
	@sh tests/fuzz/build.sh

bench: modelsync
	@sh bench/run.sh

clean:
	rm -rf build modelsync

-include $(shell find build -name '*.d' 2>/dev/null)
