# SPDX-License-Identifier: GPL-2.0-only
#
# make          build everything into .output/
# make check    install what is missing, build, run unit, host and lab tests
# make demo     install what is missing, build, run the demo
# make bench    run the benchmarks under tests/bench and print their figures
# V=1           show the commands

OUT      := .output
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= $(shell command -v bpftool || echo /usr/sbin/bpftool)
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	    -Wpointer-arith -Wformat=2 -Wundef -Wvla -Wcast-align -Wwrite-strings
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -D_GNU_SOURCE $(WARNINGS) -I$(OUT) -Iuser -Ienforce
LDLIBS   := -lbpf -lelf -lz -ljson-c -linih -lnuma -lm
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ibpf -Ibpf/vmlinux -Wall -Werror

ifeq ($(V),1)
Q :=
msg =
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Userspace modules shared by the binaries and the tests: every user/ and enforce/ file
# except the mains and the CLI's verbs (user/cmd_*.c).
MAINS    := user/dynmem.c user/dynmemd.c
CMD_SRCS := $(wildcard user/cmd_*.c)
LIB_SRCS := $(filter-out $(MAINS) $(CMD_SRCS),$(wildcard user/*.c enforce/*.c))
LIB_OBJS := $(patsubst %.c,$(OUT)/%.o,$(LIB_SRCS))

BINS := $(OUT)/dynmem $(OUT)/dynmemd
# tests/test_*_host.c load BPF into the running kernel (root); the rest are pure units.
TEST_HOST  := $(basename $(notdir $(wildcard tests/test_*_host.c)))
TEST_UNITS := $(filter-out $(TEST_HOST),$(basename $(notdir $(wildcard tests/test_*.c))))
TESTS      := $(addprefix $(OUT)/tests/,$(TEST_UNITS) $(TEST_HOST))
HELPERS    := $(OUT)/touch-pages $(OUT)/bench/fault-bench $(OUT)/bench/empty-hooks \
	      $(OUT)/bench/alloc-bench \
	      $(OUT)/guest/demand

.SECONDARY:
.PHONY: all check check-unit check-host check-lab demo bench clean deps format install uninstall
all: $(BINS) $(TESTS) $(HELPERS)

$(OUT) $(OUT)/user $(OUT)/enforce $(OUT)/tests $(OUT)/bench $(OUT)/guest:
	$(Q)mkdir -p $@

# --- BPF: object -> skeleton ------------------------------------------------
$(OUT)/%.bpf.o: bpf/%.bpf.c bpf/observer.h $(wildcard bpf/*.bpf.h) | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# --- userspace ---------------------------------------------------------------
HEADERS := $(wildcard user/*.h enforce/*.h) bpf/observer.h

$(OUT)/user/%.o: user/%.c $(HEADERS) | $(OUT)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/enforce/%.o: enforce/%.c $(HEADERS) | $(OUT)/enforce
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Ienforce -c $< -o $@

$(OUT)/user/observer.o: $(OUT)/observer.skel.h

$(OUT)/dynmemd: $(OUT)/user/dynmemd.o $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUT)/dynmem: $(OUT)/user/dynmem.o $(patsubst %.c,$(OUT)/%.o,$(CMD_SRCS)) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -lncursesw -o $@

# --- tests and helper programs ----------------------------------------------
$(OUT)/tests/%.o: tests/%.c $(wildcard tests/*.h) $(HEADERS) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests -c $< -o $@

$(OUT)/tests/test_%: $(OUT)/tests/test_%.o $(OUT)/tests/host_cgroup.o $(OUT)/tests/fixture.o $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# The allocator built a second time, its heap left sixteen times as much of each fill and its
# public names prefixed heap16_: test_alloc_path wants the same plans from both builds.
$(OUT)/tests/alloc_heap16.o: user/alloc.c $(HEADERS) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -DALLOC_HEAP_SHARE=16 $(foreach f,plan host_defaults place reason_name,\
		-Dalloc_$(f)=heap16_alloc_$(f)) -c $< -o $@

$(OUT)/tests/test_alloc_path: $(OUT)/tests/alloc_heap16.o

$(OUT)/touch-pages: tests/touch-pages.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(OUT)/bench/alloc-bench: tests/bench/alloc-bench.c tests/rng.h $(LIB_OBJS) | $(OUT)/bench
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIB_OBJS) $(LDLIBS) -o $@

$(OUT)/bench/fault-bench: tests/bench/fault-bench.c | $(OUT)/bench
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(OUT)/bench/empty-hooks: tests/bench/empty-hooks.c $(OUT)/user/tracefs.o $(OUT)/empty_hooks.skel.h | $(OUT)/bench
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUT)/user/tracefs.o $(LDLIBS) -o $@

$(OUT)/empty_hooks.bpf.o: tests/bench/empty_hooks.bpf.c | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# The guest workload runs as init's child in a tiny initramfs: static, no libc surprises.
$(OUT)/guest/demand: tests/guest/demand.c | $(OUT)/guest
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -static $< -o $@

# --- the two commands of the README -----------------------------------------
deps:
	$(Q)scripts/deps.sh

# The lab suite, a fresh lab per test: about 30 minutes, 20 of them the end-to-end scenarios
# (5 and 7); more when the lab fails under a test and it runs again.
LAB_SUITE := tests/lab/run-all.sh
# The lab scenario's checker, on records made up in its shape: it must tell the lab's failures
# from dynmem's. Needs no lab.
CHECKER_TEST := tests/lab/test-check-scenario.py

check: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/run-tests.sh $(addprefix $(OUT)/tests/,$(TEST_UNITS) $(TEST_HOST)) \
		--suite $(CHECKER_TEST) --suite tests/cli/test-stat.sh \
		--suite tests/daemon/test-daemon.sh --suite "$(LAB_SUITE)"

check-lab: all
	$(Q)scripts/run-tests.sh --suite "$(LAB_SUITE)"

check-unit: all
	$(Q)scripts/run-tests.sh $(addprefix $(OUT)/tests/,$(TEST_UNITS)) --suite $(CHECKER_TEST)

check-host: all
	$(Q)scripts/run-tests.sh $(addprefix $(OUT)/tests/,$(TEST_HOST)) --suite tests/cli/test-stat.sh \
		--suite tests/daemon/test-daemon.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh

bench: all
	$(Q)tests/bench/run-fault-bench.sh
	$(Q)$(OUT)/bench/alloc-bench
	$(Q)tests/bench/run-daemon-bench.sh

# --- install ------------------------------------------------------------------
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(PREFIX)/bin
SBINDIR := $(PREFIX)/sbin
UNITDIR := $(PREFIX)/lib/systemd/system
MANDIR  := $(PREFIX)/share/man
DATADIR := $(PREFIX)/share/dynmem

# The BPF object is inside the binaries (bpftool skeleton): nothing else to carry.
install: $(BINS)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -D -m 0755 $(OUT)/dynmem $(DESTDIR)$(BINDIR)/dynmem
	$(Q)install -D -m 0755 $(OUT)/dynmemd $(DESTDIR)$(SBINDIR)/dynmemd
	$(Q)install -D -m 0644 dynmem.conf.example $(DESTDIR)/etc/dynmem/dynmem.conf.example
	$(Q)install -D -m 0644 man/dynmem.1 $(DESTDIR)$(MANDIR)/man1/dynmem.1
	$(Q)install -D -m 0644 man/dynmemd.8 $(DESTDIR)$(MANDIR)/man8/dynmemd.8
	$(Q)install -D -m 0644 contrib/grafana/dynmem.json $(DESTDIR)$(DATADIR)/grafana-dashboard.json
	$(Q)install -d $(DESTDIR)$(UNITDIR)
	$(Q)sed 's|/usr/sbin/dynmemd|$(SBINDIR)/dynmemd|g' contrib/systemd/dynmemd.service \
		> $(DESTDIR)$(UNITDIR)/dynmemd.service

uninstall:
	$(Q)rm -f $(DESTDIR)$(BINDIR)/dynmem $(DESTDIR)$(SBINDIR)/dynmemd \
		$(DESTDIR)$(MANDIR)/man1/dynmem.1 $(DESTDIR)$(MANDIR)/man8/dynmemd.8 \
		$(DESTDIR)$(UNITDIR)/dynmemd.service $(DESTDIR)$(DATADIR)/grafana-dashboard.json \
		$(DESTDIR)/etc/dynmem/dynmem.conf.example

format:
	$(Q)clang-format -i bpf/*.c bpf/*.h user/*.c user/*.h tests/*.c tests/*/*.c

clean:
	$(call msg,CLEAN,$(OUT))
	$(Q)rm -rf $(OUT)
