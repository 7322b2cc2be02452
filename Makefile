# vmcrypt-agent
#
#   make            build build/vmcrypt-agent (stubs generated from soap/)
#   make check      install what is missing, build, run every test
#   make demo       install what is missing, start a local vcsim with a
#                   default KMS cluster, run the agent against it
#   make stubs      regenerate stubs/ from soap/vim25.h with soapcpp2
#   make SANITIZE=1 check     the same under ASan + UBSan
#   make check-hard longer fuzzing, valgrind, a 30-minute soak (issue #8)
#   make fuzz       run the libFuzzer targets (FUZZ_SECONDS each, default 60)
#   make bench      benchmarks against vcsim (QUICK=1 for a short run)
#   make deb / rpm  the packages (build/pkg/)
#   make deps       only install dependencies (apt, Go test bed, PyPI)

CC       ?= gcc
BUILD    ?= build
SANITIZE ?=
VERSION  := 0.1.0

PKGS     := gsoapssl libuv libxml-2.0 openssl json-c inih zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT      := -O2
ifeq ($(SANITIZE),1)
OPT      := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN    := -fsanitize=address,undefined
BUILD    := build-san
endif

# SANITIZE=thread: ThreadSanitizer, for the suites that drive `run` (its
# threads: the loop, the watcher, the pool).  Reports go to build-tsan/tsan.*;
# `make SANITIZE=thread integration-tsan` fails if there is any.
ifeq ($(SANITIZE),thread)
OPT      := -O1 -fsanitize=thread -fno-omit-frame-pointer
LDSAN    := -fsanitize=thread
BUILD    := build-tsan
endif

# HARDEN=1: the release build the packages ship (dpkg-buildflags' hardening).
ifeq ($(HARDEN),1)
OPT      += -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE -Wformat -Werror=format-security
LDSAN    += -pie -Wl,-z,relro -Wl,-z,now -Wl,--as-needed
BUILD    := build-rel
endif

# ---- the folders of agent/ -------------------------------------------------
# agent/LAYERS lists the folders from the top down.  Each folder is compiled
# with the include path of its own folder and the folders below it, so a
# header from above does not even compile; tests/tools/layers.py checks the
# objects' symbols the same way.  Only vsphere/ and ovh/ see the generated
# gSOAP headers.
comma := ,
space := $(empty) $(empty)
LAYER_LINES := $(shell grep -v '^\#' agent/LAYERS | grep -v '^ *$$' | tr ' ' ',')
FOLDERS     := $(subst $(comma),$(space),$(LAYER_LINES))
# The folders on the lines below folder $(1).
below = $(subst $(comma), ,$(shell grep -v '^\#' agent/LAYERS | grep -v '^ *$$' | \
	  awk -v f=$(1) 'found { print } { for (i = 1; i <= NF; i++) if ($$i == f) found = 1 }'))
STUB_FOLDERS := vsphere ovh
inc_for = -iquote agent/$(1) $(addprefix -iquote agent/,$(call below,$(1))) \
	  $(if $(filter $(1),$(STUB_FOLDERS)),-I$(BUILD)/stubs)
ALL_INC := $(addprefix -iquote agent/,$(FOLDERS)) -I$(BUILD)/stubs

CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -g $(OPT) $(PKG_CFLAGS) \
		 -DVMCRYPT_VERSION=\"$(VERSION)\"
CFLAGS   := $(CFLAGS_COMMON) -Wall -Wextra
LDLIBS   := $(PKG_LIBS) -lpthread $(LDSAN)

SOAPCPP2 := soapcpp2
GSOAP_IMPORT := /usr/share/gsoap/import

# Every source file of agent/, as build/obj/FOLDER/NAME.o.
SRCS := $(sort $(wildcard agent/*/*.c))
OBJ  := $(BUILD)/obj
obj_of = $(patsubst agent/%.c,$(OBJ)/%.o,$(1))
GEN_OBJS := $(OBJ)/config_xsd.o $(OBJ)/soapC.o $(OBJ)/soapClient.o
# What the unit tests, tools and fuzzers link: everything but main.c (the
# command dispatch) and the engine; tests that drive the engine add it.
MAIN_OBJ    := $(OBJ)/cmd/main.o
ENGINE_OBJS := $(call obj_of,$(wildcard agent/engine/*.c))
LIB_OBJS    := $(filter-out $(MAIN_OBJ) $(ENGINE_OBJS),$(call obj_of,$(SRCS))) $(GEN_OBJS)
AGENT_OBJS  := $(call obj_of,$(SRCS)) $(GEN_OBJS)
HEADERS     := $(wildcard agent/*/*.h)

BIN := $(BUILD)/vmcrypt-agent

.PHONY: all stubs deps check check-hard unit integration integration-api demo clean tools fuzz fuzz-deps deb rpm packages bench layers
all: $(BIN)

# ---- generated stubs --------------------------------------------------------
# stubs/ holds only a README in git: the C is produced here from soap/ and
# never edited by hand.
$(BUILD)/stubs/soapH.h: soap/vim25.h
	@mkdir -p $(BUILD)/stubs
	$(SOAPCPP2) -c -C -L -x -1 -w -I$(GSOAP_IMPORT) -d $(BUILD)/stubs soap/vim25.h >$(BUILD)/stubs/soapcpp2.log 2>&1 \
	  || { cat $(BUILD)/stubs/soapcpp2.log; exit 1; }
	@rm -f $(BUILD)/stubs/*.wsdl $(BUILD)/stubs/*.xsd
$(BUILD)/stubs/soapC.c $(BUILD)/stubs/soapClient.c $(BUILD)/stubs/vim.nsmap: $(BUILD)/stubs/soapH.h

stubs: $(BUILD)/stubs/soapH.h
	@rm -f stubs/*.c stubs/*.h stubs/*.nsmap
	cp $(BUILD)/stubs/soapH.h $(BUILD)/stubs/soapStub.h $(BUILD)/stubs/soapC.c \
	   $(BUILD)/stubs/soapClient.c $(BUILD)/stubs/vim.nsmap stubs/
	@echo "stubs/ regenerated from soap/vim25.h (generated files, do not edit)"

# ---- build ------------------------------------------------------------------
$(BUILD)/config_xsd.c: policies/vmcrypt-agent.xsd
	@mkdir -p $(BUILD)
	{ echo '/* generated from policies/vmcrypt-agent.xsd; do not edit */'; \
	  echo '#include <stddef.h>'; \
	  echo 'const unsigned char config_xsd[] = {'; \
	  od -An -v -tx1 $< | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00 };'; \
	  echo "const size_t config_xsd_len = sizeof(config_xsd) - 1;"; } > $@

$(OBJ)/config_xsd.o: $(BUILD)/config_xsd.c
	@mkdir -p $(OBJ)
	$(CC) $(CFLAGS_COMMON) -c -o $@ $<

$(OBJ)/soapC.o: $(BUILD)/stubs/soapC.c
	@mkdir -p $(OBJ)
	$(CC) $(CFLAGS_COMMON) -I$(BUILD)/stubs -w -c -o $@ $<
$(OBJ)/soapClient.o: $(BUILD)/stubs/soapClient.c
	@mkdir -p $(OBJ)
	$(CC) $(CFLAGS_COMMON) -I$(BUILD)/stubs -w -c -o $@ $<

# One rule per folder, with that folder's include path.
define folder_rule
$(OBJ)/$(1)/%.o: agent/$(1)/%.c $(HEADERS) $(BUILD)/stubs/soapH.h
	@mkdir -p $(OBJ)/$(1)
	$$(CC) $$(CFLAGS) $(call inc_for,$(1)) -c -o $$@ $$<
endef
$(foreach f,$(FOLDERS),$(eval $(call folder_rule,$(f))))

$(BIN): $(AGENT_OBJS)
	$(CC) -o $@ $^ $(LDLIBS)

# No file uses a file above it, no two files use each other (agent/LAYERS).
layers: $(AGENT_OBJS)
	python3 tests/tools/layers.py --objects $(OBJ) --layers agent/LAYERS \
	  --only stubs=$(subst $(space),$(comma),$(STUB_FOLDERS)) --self-test \
	  --cc "$(CC)" --cflags "$(CFLAGS) $(ALL_INC)"

# ---- tests ------------------------------------------------------------------
UNIT_TESTS := test_config test_decode test_xnode test_tls test_inventory test_policy test_checkpoint test_enforce test_kms test_kmip test_ovh test_okms test_httpd test_credsock test_trace test_plan test_engine test_lease test_opts test_canary test_controls test_period test_sign test_evidence test_evmap
UNIT_BINS  := $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))

$(BUILD)/tests/%.o: tests/unit/%.c $(HEADERS) $(BUILD)/stubs/soapH.h
	@mkdir -p $(BUILD)/tests
	$(CC) $(CFLAGS) $(ALL_INC) -Itests/unit -c -o $@ $<

# The agent's objects but main.o, in one archive: each suite, tool and
# fuzzer links only the modules its code reaches.
LIB := $(BUILD)/libvmcrypt.a
$(LIB): $(filter-out $(MAIN_OBJ),$(AGENT_OBJS))
	@rm -f $@
	ar rcs $@ $^

TEST_LIBS := $(LDLIBS) -lcmocka
$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(BUILD)/tests/domtest.o $(LIB)
	$(CC) -o $@ $^ $(TEST_LIBS)

# The agent's decoders run on files (tests/integration/test_real_traffic.py).
$(BUILD)/tests/vimtool: tests/tools/vimtool.c $(HEADERS) $(LIB)
	@mkdir -p $(BUILD)/tests
	$(CC) $(CFLAGS) $(ALL_INC) -o $@ tests/tools/vimtool.c $(LIB) $(LDLIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

.PHONY: test-build integration-tsan
# Everything the unit and integration suites run, built (make -jN test-build).
test-build: $(BIN) $(BUILD)/tests/vimtool $(UNIT_BINS) tools

# The test bed's Go programs (vcsimd, govc): never sanitized, so one copy
# in build/tools serves every build (SANITIZE=1 and thread too).
TOOLS := build/tools
# setup-deps.sh installs Go 1.23 here on Debian 12 when the system Go is older.
export PATH := /usr/lib/go-1.23/bin:$(PATH)
tools: $(TOOLS)/govc $(TOOLS)/vcsimd $(TOOLS)/benchtool
$(TOOLS)/govc $(TOOLS)/vcsimd $(TOOLS)/benchtool: tests/harness/go.mod tests/harness/go.sum $(wildcard tests/harness/*/*.go)
	@mkdir -p $(TOOLS)
	cd tests/harness && go build -o $(abspath $(TOOLS))/ ./govc ./vcsimd ./benchtool

# The test bed presents vSphere API $(API) (the whole suite), and every
# reconfigure task takes TASK_DELAY as on vCenter, where encryption takes
# seconds to minutes.  integration-api runs the tests whose behaviour
# depends on the API version (pytest -m api) again at API_MATRIX.
API        ?= 8.0.3.0
API_MATRIX ?= 7.0.3.0 9.0.0.0
TASK_DELAY ?= ReconfigVm=2000
PYTEST_ENV = VMCRYPT_BIN=$(abspath $(BIN)) VMCRYPT_TOOLS=$(abspath $(TOOLS)) \
	  VMCRYPT_SANITIZED=$(SANITIZE) VMCRYPT_VIMTOOL=$(abspath $(BUILD)/tests/vimtool) \
	  VMCRYPT_TASK_DELAY=$(TASK_DELAY) PYTHONPATH=$(abspath .deps/python)
# JOBS: pytest-xdist workers for every integration target (JOBS=1: one
# process, no xdist).  Each test owns its test bed, and each worker its
# own share of the ports (tests/integration/conftest.py).  The tests wait
# on vcsim and the task delay more than they compute, so more workers than
# cores pay.  `make integration` on the 2-core machine, shared with other
# builds (load 3 to 8): serial 1032 s; JOBS=3 345 s; JOBS=4 292 s (168
# tests), 336 s (186); JOBS=6 254 s (186), every test passing.  The
# sanitizer runs are CPU-bound: .ci/run gives them JOBS=4.
JOBS    ?= 6
# --dist loadgroup with no group marked: xdist's scope scheduler with one
# test a scope, so each worker holds two tests at most and takes the next
# as it ends one, the long ones (marked scale, collected first) first.
# --dist load hands each worker a run of consecutive tests at the start,
# and so every long test to one worker: 573 s at JOBS=4, 577 s at JOBS=2.
# Tests that change the machine itself (the package) take a lock
# (machine_lock), not a worker.
XDIST    = $(if $(filter 1,$(JOBS)),-p no:xdist,-n $(JOBS) --dist loadgroup)
PYTEST   = python3 -m pytest -q -rs -p no:cacheprovider $(XDIST)
# IT_MARK: a pytest -m expression that narrows `make integration`
# (.ci/run: IT_MARK="not asan_skip" under ASan).  A SANITIZE build leaves out
# test_packaging.py: it runs the packaged release build (make deb), not
# this one, and the plain stage ran it.
IT_MARK ?=
# The packages the plain run installs (make check builds them first and
# passes IT_PACKAGES= to build them once).
IT_PACKAGES ?= packages
IT_SELECT = $(if $(SANITIZE),--ignore=tests/integration/test_packaging.py) \
	  $(if $(IT_MARK),-m "$(IT_MARK)")
integration: $(BIN) $(BUILD)/tests/vimtool tools $(if $(SANITIZE),,$(IT_PACKAGES))
	$(PYTEST_ENV) VMCRYPT_API=$(API) $(PYTEST) --durations=10 $(IT_SELECT) tests/integration

integration-api: $(BIN) $(BUILD)/tests/vimtool tools
	@set -e; for v in $(API_MATRIX); do echo "== API $$v"; \
	  $(PYTEST_ENV) VMCRYPT_API=$$v $(PYTEST) --durations=5 -m api tests/integration; done

# The suites that drive `run` (and so its threads), under ThreadSanitizer:
# make SANITIZE=thread integration-tsan.  Timeouts are stretched (VMCRYPT_SLOW).
# Any report fails the target, printed, except the SEGV test_reliability
# sends on purpose (it checks that a crash leaves no core).
TSAN_SUITES := test_run.py test_enforce.py test_reliability.py test_hostile.py \
	test_ha.py::test_vcenter_restarted_under_a_pair_one_leader_after
integration-tsan: $(BIN) $(BUILD)/tests/vimtool tools
	@rm -f $(abspath $(BUILD))/tsan.*
	TSAN_OPTIONS="log_path=$(abspath $(BUILD))/tsan second_deadlock_stack=1 \
	  suppressions=$(abspath tests/tsan.supp)" VMCRYPT_SLOW=4 \
	  $(PYTEST_ENV) VMCRYPT_API=$(API) $(PYTEST) --durations=10 \
	  $(addprefix tests/integration/,$(TSAN_SUITES))
	@bad=$$(grep -lE "(WARNING|ERROR): ThreadSanitizer" $(abspath $(BUILD))/tsan.* 2>/dev/null | \
	  while read f; do grep -qvE "ThreadSanitizer: SEGV|^ *#|^==|^SUMMARY|^$$|can not provide" \
	  "$$f" && echo "$$f"; done); \
	if [ -n "$$bad" ]; then cat $$bad; echo "ThreadSanitizer reported the above"; exit 1; fi

# ---- fuzzing (libFuzzer, clang) ---------------------------------------------
# Each target runs FUZZ_SECONDS from the committed seeds in tests/fuzz/corpus/
# (new finds stay in build-fuzz/); a crash or leak fails the run.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := ttlv ovh http soap config trace evidence
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined $(PKG_CFLAGS) $(ALL_INC) -DVMCRYPT_VERSION=\"$(VERSION)\"
# Every target links the agent's own objects, built instrumented here into
# one archive (each target pulls only what its code reaches).
FUZZ_OBJ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
		-fno-sanitize-recover=undefined $(PKG_CFLAGS) -DVMCRYPT_VERSION=\"$(VERSION)\"
FUZZ_LIB_OBJS := $(patsubst $(OBJ)/%,build-fuzz/obj/%,$(filter-out $(MAIN_OBJ),$(AGENT_OBJS)))
define fuzz_folder_rule
build-fuzz/obj/$(1)/%.o: agent/$(1)/%.c $(HEADERS) $(BUILD)/stubs/soapH.h | fuzz-deps
	@mkdir -p build-fuzz/obj/$(1)
	clang $$(FUZZ_OBJ_CFLAGS) $(call inc_for,$(1)) -c -o $$@ $$<
endef
$(foreach f,$(FOLDERS),$(eval $(call fuzz_folder_rule,$(f))))
build-fuzz/obj/soap%.o: $(BUILD)/stubs/soap%.c | fuzz-deps
	@mkdir -p build-fuzz/obj
	clang $(FUZZ_OBJ_CFLAGS) -I$(BUILD)/stubs -w -c -o $@ $<
build-fuzz/obj/config_xsd.o: $(BUILD)/config_xsd.c | fuzz-deps
	@mkdir -p build-fuzz/obj
	clang $(FUZZ_OBJ_CFLAGS) -c -o $@ $<
build-fuzz/libvmcrypt.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c build-fuzz/libvmcrypt.a
	clang $(FUZZ_CFLAGS) -o $@ $< build-fuzz/libvmcrypt.a -Wl,--as-needed $(PKG_LIBS) -lpthread
fuzz-deps:
	@tests/setup-deps.sh fuzz

# FUZZ_JOBS targets at a time (.ci/run: 2, one a core); each prints its
# stats when it ends.  fuzz-build: the targets, built only.
FUZZ_JOBS ?= 1
.PHONY: fuzz-build
fuzz-build: $(addprefix build-fuzz/fuzz_,$(FUZZ_TARGETS))
fuzz: fuzz-build
	@printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(FUZZ_JOBS) -n 1 sh -c 't=$$1; \
	  mkdir -p build-fuzz/corpus-$$t; \
	  build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=1024 \
	    -print_final_stats=1 -artifact_prefix=build-fuzz/ build-fuzz/corpus-$$t tests/fuzz/corpus/$$t \
	    2>build-fuzz/fuzz_$$t.log \
	    || { echo "== fuzz_$$t FAILED"; tail -40 build-fuzz/fuzz_$$t.log; exit 1; }; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" build-fuzz/fuzz_$$t.log' sh

# ---- benchmarks (not part of check) ------------------------------------------
# make bench: full sizes (300 sequential, 1,000 burst, 10,000 catch-up, 10 min
# idle, the scale curve 1,000 to 45,000 VMs); make bench QUICK=1 for a short
# run (the curve to 10,000: make bench QUICK=1 ONLY=scale); BASELINE=BINARY
# runs every section with that agent too, first, for a before/after.  Results in build/bench/results.json;
# BENCHMARKS.md says how they were read.
bench: deps $(BIN) tools
	apt_missing=""; command -v valgrind >/dev/null || apt_missing=valgrind; \
	command -v gnuplot >/dev/null || apt_missing="$$apt_missing gnuplot-nox"; \
	[ -z "$$apt_missing" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$apt_missing >/dev/null
	VMCRYPT_BIN=$(abspath $(BIN)) VMCRYPT_TOOLS=$(abspath $(TOOLS)) \
	  PYTHONPATH=$(abspath .deps/python) python3 tests/bench/bench.py $(if $(QUICK),--quick) \
	  $(if $(ONLY),--only $(ONLY)) $(if $(BASELINE),--baseline $(BASELINE))

# ---- check-hard (issue #8) ---------------------------------------------------
# The fault, restart, hostile-answer and secret tests are part of `make check`
# (test_reliability.py, test_hostile.py), and .ci/run adds the sanitizers and
# 30 s of each fuzz target.  check-hard adds what does not fit CI's budget:
# HARD_FUZZ_SECONDS of each fuzz target, the integration suite
# (VALGRIND_TESTS) with every agent process under
# valgrind (any error or definite leak fails), and a SOAK_MINUTES soak at
# about 10 VM events a second with flat RSS (tests/soak/soak.py).
HARD_FUZZ_SECONDS ?= 300
SOAK_MINUTES ?= 30
# Every suite, with every agent process under valgrind, except: the
# packages (they run the packaged binary), and the tests that SIGKILL the
# agent or vcsim or create hundreds of VMs (a killed process leaves no leak
# report; they run in make check and under ASan).
VALGRIND_TESTS ?= tests/integration --ignore=tests/integration/test_packaging.py
VALGRIND_SKIP ?= not sigkill and not killed_and_restarted and not left_running and not dry_run_100
check-hard: deps $(BIN) tools
	command -v valgrind >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
	$(MAKE) fuzz FUZZ_SECONDS=$(HARD_FUZZ_SECONDS)
	rm -rf build/valgrind && mkdir -p build/valgrind
	VMCRYPT_BIN=$(abspath tests/valgrind-agent.sh) VMCRYPT_REAL_BIN=$(abspath $(BIN)) \
	  VALGRIND_LOGS=$(abspath build/valgrind) VMCRYPT_TOOLS=$(abspath $(TOOLS)) \
	  VMCRYPT_SLOW=20 VMCRYPT_VALGRIND=1 PYTHONPATH=$(abspath .deps/python) \
	  python3 -m pytest -q -p no:cacheprovider -k "$(VALGRIND_SKIP)" $(VALGRIND_TESTS)
	@n=$$(ls build/valgrind | wc -l); bad=$$(find build/valgrind -name '*.log' -size +0); \
	  if [ -n "$$bad" ]; then cat $$bad; echo "valgrind: errors in $$bad"; exit 1; fi; \
	  echo "valgrind: $$n agent processes, no error, no definite leak"
	PYTHONPATH=$(abspath .deps/python) VMCRYPT_BIN=$(abspath $(BIN)) VMCRYPT_TOOLS=$(abspath $(TOOLS)) \
	  python3 tests/soak/soak.py $(SOAK_MINUTES)

# ---- packages ---------------------------------------------------------------
# make deb: build/pkg/vmcrypt-agent_VERSION_ARCH.deb (lintian clean);
# make rpm: build/pkg/rpm/RPMS/ARCH/vmcrypt-agent-VERSION-1.ARCH.rpm from
# packaging/rpm/vmcrypt-agent.spec (for Photon OS and RHEL-likes).
deb:
	@packaging/build-deb.sh

RPM_TOP := $(abspath build/pkg/rpm)
rpm:
	@mkdir -p $(RPM_TOP)/SOURCES
	git ls-files -co --exclude-standard | grep -v '^build' | \
	  while read -r f; do [ -e "$$f" ] && echo "$$f"; done | \
	  tar -czf $(RPM_TOP)/SOURCES/vmcrypt-agent-$(VERSION).tar.gz \
	  --transform 's,^,vmcrypt-agent-$(VERSION)/,' -T -
	rpmbuild -bb --nodeps --define "_topdir $(RPM_TOP)" --define "version $(VERSION)" \
	  --define "debug_package %{nil}" packaging/rpm/vmcrypt-agent.spec >$(RPM_TOP)/build.log 2>&1 \
	  || { tail -40 $(RPM_TOP)/build.log; exit 1; }
	@find $(RPM_TOP)/RPMS -name '*.rpm'

packages: deb rpm

deps:
	@tests/setup-deps.sh

# make check: each stage prints its wall time, and the last lines add them
# up (build/check-stages.txt keeps them: "SECONDS NAME" a line; .ci/run
# prints them with its own).
NPROC := $(shell nproc 2>/dev/null || echo 2)
STAGES := $(abspath build/check-stages.txt)
# $(call stage,NAME,COMMAND): runs COMMAND, prints and records its time.
stage = s=$$(date +%s); rc=0; $(2) || rc=$$?; t=$$(( $$(date +%s) - s )); \
	echo "$$t $(1)" >> $(STAGES); echo "==== $(1): $$t s"; \
	[ $$rc -eq 0 ] || { echo "==== $(1) FAILED"; exit $$rc; }
check:
	@mkdir -p build && : > $(STAGES)
	@$(call stage,deps,tests/setup-deps.sh)
	@$(call stage,build,$(MAKE) -j$(NPROC) test-build packages)
	@$(call stage,unit,$(MAKE) unit)
	@$(call stage,layers,$(MAKE) layers)
	@$(call stage,integration,$(MAKE) integration IT_PACKAGES=)
	@$(call stage,API matrix,$(MAKE) integration-api)
	@awk '{ t += $$1; printf "  %6d s  %s\n", $$1, substr($$0, length($$1) + 2) } \
	  END { printf "make check: %d s (%d min %d s)\n", t, t / 60, t % 60 }' $(STAGES)

demo: deps
	$(MAKE) all tools
	tests/demo.sh $(abspath $(BIN)) $(abspath $(TOOLS))

clean:
	rm -rf build build-san build-fuzz build-rel
