# Rampart build.  One non-recursive Makefile; every module is a directory.
#
#   make            build the binaries (release flags) into build/rel
#   make test       install missing Debian packages, build, run every test
#                   under AddressSanitizer + UBSan, print "N passed, N failed"
#   make demo       install, build, run the most complete real thing we have
#   make bench      benchmarks (release flags), each next to its baseline
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (default 60) each
#   make install    PREFIX=/usr/local DESTDIR=
#   make check-deps check that no module includes a module above it
#
# New sources are picked up by wildcard: a module's *.c (except main_*.c),
# tests/unit/test_*.c, tests/fuzz/fuzz_*.c and bench/bench_*.c.

CC        ?= cc
PREFIX    ?= /usr/local
DESTDIR   ?=
FUZZ_SECONDS ?= 60
FUZZ_CC   ?= clang

# Modules from the bottom of the dependency order up (design.md section 5).
MODULES   := lib nat sim tunnel datapath bgp store api agent gateway cli
# What each module may link against (itself first).
LINK_lib  := lib
LINK_nat  := nat lib
LINK_sim  := sim nat lib
LINK_tunnel := tunnel lib
LINK_datapath := datapath tunnel sim nat lib
LINK_bgp  := bgp lib
LINK_store := store lib
LINK_api  := api sim store nat lib
LINK_agent := agent datapath tunnel sim nat lib
LINK_gateway := gateway agent bgp datapath tunnel sim nat lib
LINK_cli  := cli sim nat lib

PKGS      := jansson sqlite3 libconfig libevent libxdp libbpf libmnl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wno-missing-field-initializers
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -DTHREADED -I. $(WARN) $(PKG_CFLAGS) -g
REL_CFLAGS  := $(BASE_CFLAGS) -MMD -MP -O2
ASAN_CFLAGS := $(BASE_CFLAGS) -MMD -MP -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined -DRP_DEBUG
LDLIBS      := $(PKG_LIBS) -lzookeeper_mt -lm -lpthread
TEST_LDLIBS := $(LDLIBS) -lcmocka

# --- sources --------------------------------------------------------------
mod_srcs   = $(filter-out $(1)/main_%.c $(1)/%.bpf.c,$(wildcard $(1)/*.c))
# XDP programs (datapath/*.bpf.c) are compiled for BPF and embedded as bytes.
BPF_SRCS   := $(wildcard datapath/*.bpf.c)
BPF_GEN    := $(patsubst datapath/%.bpf.c,build/gen/%_bpf.c,$(BPF_SRCS))
ALL_MOD_SRCS := $(foreach m,$(MODULES),$(call mod_srcs,$(m)))
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRCS := $(wildcard bench/bench_*.c)
BINS       := build/rel/rampartctl build/rel/rampart-api \
              $(if $(wildcard agent/main_rampart_agent.c),build/rel/rampart-agent) \
              $(if $(wildcard gateway/main_rampart_gateway.c),build/rel/rampart-gateway)

# A test or bench named test_<module>... links that module and what it
# depends on; anything else links lib only.
mod_of     = $(or $(firstword $(foreach m,$(filter-out lib,$(MODULES)),$(if $(filter $(m)%,$(1)),$(m)))),lib)
archives   = $(foreach m,$(LINK_$(call mod_of,$(2))),build/$(1)/lib$(m).a)

.PHONY: all test unit-tests integration-tests demo bench fuzz install clean deps test-zk-failover appliance appliance-test demo-down demo-api \
        check-deps check-clang scenarios
all: $(BINS)

# --- objects and archives ---------------------------------------------------
build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -c $< -o $@
build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -c $< -o $@

# Keep the generated BPF object and its C form (make would delete intermediates
# between parallel builds).
.SECONDARY: $(BPF_GEN) $(patsubst %.c,%.o,$(BPF_GEN))
# A module's generated sources (only datapath has some: its XDP objects).
gen_objs = $(if $(filter datapath,$(1)),$(patsubst build/gen/%.c,build/$(2)/gen/%.o,$(BPF_GEN)))
build/gen/%_bpf.o: datapath/%.bpf.c
	@mkdir -p $(dir $@)
	clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -I. -c $< -o $@
build/gen/%_bpf.c: build/gen/%_bpf.o scripts/embed.sh
	scripts/embed.sh $< $(subst -,_,$*)_bpf_obj >$@
build/rel/gen/%_bpf.o: build/gen/%_bpf.c
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@
build/asan/gen/%_bpf.o: build/gen/%_bpf.c
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

define archive_rule
build/rel/lib$(1).a: $$(patsubst %.c,build/rel/%.o,$$(call mod_srcs,$(1))) $$(call gen_objs,$(1),rel)
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
build/asan/lib$(1).a: $$(patsubst %.c,build/asan/%.o,$$(call mod_srcs,$(1))) $$(call gen_objs,$(1),asan)
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call archive_rule,$(m))))

# --- binaries ------------------------------------------------------------------
build/rel/rampartctl: build/rel/cli/main_rampartctl.o $(call archives,rel,cli)
	$(CC) $(REL_CFLAGS) $^ -o $@ $(LDLIBS)
build/asan/rampartctl: build/asan/cli/main_rampartctl.o $(call archives,asan,cli)
	$(CC) $(ASAN_CFLAGS) $^ -o $@ $(LDLIBS)

# The OpenAPI document is compiled into the API server.
build/gen/openapi.c: docs/openapi.yaml scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh $< api_openapi_yaml >$@
build/rel/gen/openapi.o build/asan/gen/openapi.o: build/gen/openapi.c
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@
build/rel/rampart-api: build/rel/api/main_rampart_api.o build/rel/gen/openapi.o $(call archives,rel,api)
	$(CC) $(REL_CFLAGS) $^ -o $@ $(LDLIBS)
build/asan/rampart-api: build/asan/api/main_rampart_api.o build/asan/gen/openapi.o $(call archives,asan,api)
	$(CC) $(ASAN_CFLAGS) $^ -o $@ $(LDLIBS)

build/rel/rampart-agent: build/rel/agent/main_rampart_agent.o $(call archives,rel,agent)
	$(CC) $(REL_CFLAGS) $^ -o $@ $(LDLIBS)
build/asan/rampart-agent: build/asan/agent/main_rampart_agent.o $(call archives,asan,agent)
	$(CC) $(ASAN_CFLAGS) $^ -o $@ $(LDLIBS)

build/rel/rampart-gateway: build/rel/gateway/main_rampart_gateway.o $(call archives,rel,gateway)
	$(CC) $(REL_CFLAGS) $^ -o $@ $(LDLIBS)
build/asan/rampart-gateway: build/asan/gateway/main_rampart_gateway.o $(call archives,asan,gateway)
	$(CC) $(ASAN_CFLAGS) $^ -o $@ $(LDLIBS)

# --- unit tests (ASan + UBSan) --------------------------------------------------
UNIT_BINS := $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRCS))
define unit_rule
build/asan/tests/$(1): build/asan/tests/unit/$(1).o $$(call archives,asan,$(patsubst test_%,%,$(1))) build/asan/gen/openapi.o
	$$(CC) $$(ASAN_CFLAGS) $$^ -o $$@ $$(TEST_LDLIBS)
endef
$(foreach t,$(patsubst tests/unit/%.c,%,$(UNIT_SRCS)),$(eval $(call unit_rule,$(t))))

unit-tests: $(UNIT_BINS) build/asan/rampartctl build/asan/rampart-api \
            $(if $(wildcard agent/main_rampart_agent.c),build/asan/rampart-agent) \
            $(if $(wildcard gateway/main_rampart_gateway.c),build/asan/rampart-gateway)
integration-tests: all

test: deps
	$(MAKE) unit-tests
	$(MAKE) check-deps check-clang
	scripts/run-tests.sh

# The ZooKeeper ensemble failover test alone (make test runs it too).
test-zk-failover: deps
	$(MAKE) build/asan/rampart-api
	tests/integration/api_zk_failover.sh

# --- benchmarks (release flags) -----------------------------------------------------
BENCH_BINS := $(patsubst bench/%.c,build/rel/bench/%,$(BENCH_SRCS))
define bench_rule
build/rel/bench/$(1): build/rel/bench/$(1).o $$(call archives,rel,$(patsubst bench_%,%,$(1))) build/rel/gen/openapi.o
	$$(CC) $$(REL_CFLAGS) $$^ -o $$@ $$(LDLIBS)
endef
$(foreach b,$(patsubst bench/%.c,%,$(BENCH_SRCS)),$(eval $(call bench_rule,$(b))))

bench: deps
	$(MAKE) $(BENCH_BINS) build/rel/rampart-api build/rel/rampart-agent build/rel/rampart-gateway build/rel/rampartctl
	scripts/run-bench.sh $(BENCH_BINS)
	RAMPART_API=build/rel/rampart-api /usr/bin/python3 bench/api_bench.py
	bench/gateway_routes.sh   # 10k, 100k, 1M routes from an upstream BIRD (root; about 1.5 min)
	bench/gateway_fip.sh      # a floating IP created through the API until it answers (root; the cloud)
	bench/e2e_forward.sh   # last and alone: it pins CPUs 0 and 1 (root; skips otherwise)

# --- fuzzing (clang libFuzzer + ASan) ------------------------------------------------
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -DTHREADED -I. $(PKG_CFLAGS) -g -O1 \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
build/fuzz/%: tests/fuzz/%.c $(ALL_MOD_SRCS) build/gen/openapi.c $(BPF_GEN)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(ALL_MOD_SRCS) build/gen/openapi.c $(BPF_GEN) -o $@ $(LDLIBS)

fuzz: deps $(FUZZ_BINS)
	scripts/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# --- demo ------------------------------------------------------------------------------
# The whole cloud in namespaces, left running; demo-down removes it.
demo: deps
	$(MAKE) all
	scripts/demo.sh

demo-down:
	scripts/cloud/cloud.sh down

# The control plane and the simulator alone (API, trace), on loopback.
demo-api: deps
	$(MAKE) all
	scripts/demo-api.sh

# --- the border appliance image (issue 8; root: debootstrap, mkfs) ----------------------
appliance: deps
	$(MAKE) all
	appliance/build.sh

appliance-test: deps
	appliance/test.sh

# --- hygiene ------------------------------------------------------------------------------
check-deps:
	scripts/check-deps.sh $(MODULES)

# The other compiler must accept the tree too (gcc is the default CC).
check-clang:
	@other=$$( [ "$$($(CC) --version | grep -c clang)" = 0 ] && echo clang || echo gcc ); \
	echo "compile check with $$other"; \
	for f in $(ALL_MOD_SRCS) $(UNIT_SRCS) $(BENCH_SRCS) $(wildcard */main_*.c); do \
	  $$other $(BASE_CFLAGS) -O2 -fsyntax-only $$f || exit 1; done

deps:
	@scripts/deps.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build

-include $(shell find build -name '*.d' -type f -not -path 'build/appliance/*' 2>/dev/null)
