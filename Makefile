# Spectrum broker. `make run` and `make test` work on a fresh Debian 12 machine with the .NET SDK:
# each installs what it needs first (apt packages once, then dotnet restore).
SHELL := /bin/bash
PREFIX ?= /usr/local
CONFIGURATION ?= Release
DOTNET ?= dotnet
APT_PACKAGES := sqlite3 curl util-linux fuse3 libfuse3-dev pkg-config gcc linux-libc-dev fio \
	qemu-system-x86 busybox-static cpio xz-utils afl++ \
	xvfb dbus xdg-desktop-portal-gtk xdotool imagemagick
STAMP := .state/.deps-installed
# The demo guest the example policies boot (policies/vms/*.toml: kernel = "images/vmlinuz"), and
# the guest the end-to-end tests boot: a Debian cloud kernel and a busybox initramfs.
GUEST_DIR := $(CURDIR)/policies/images
export SPECTRUM_GUEST_DIR := $(GUEST_DIR)

.PHONY: all deps build guest run test install bench clean

all: build

# Debian packages the tests and tools use: sqlite3 (tamper tests edit the database as an attacker
# would), curl (the README's API examples), util-linux (setpriv, to call the API as another uid),
# fuse3 (fusermount3 for unprivileged mounts), libfuse3-dev, pkg-config and gcc (struct layouts are
# checked against <linux/fuse.h>; the benchmark compiles libfuse's passthrough_ll), fio (benchmarks),
# qemu-system-x86 (QEMU and /usr/lib/qemu/virtiofsd for the guest tests), busybox-static, cpio and
# xz-utils (tests/guest/build-guest.sh builds the test guest's initramfs from Debian packages),
# afl++ (tests/fuzz/run.sh fuzzes the portal channel's wire reader with afl-fuzz over SharpFuzz),
# xvfb, dbus, xdg-desktop-portal-gtk, xdotool and imagemagick (the portal tests show the real GTK
# file dialog on a headless X server and a private session bus, drive it with xdotool's keystrokes
# and keep a screenshot taken with ImageMagick's import).
$(STAMP): Makefile
	@mkdir -p .state
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi
	@touch $@

# Packages, and the dotnet tools in .config/dotnet-tools.json (sharpfuzz, for tests/fuzz/run.sh).
deps: $(STAMP)
	$(DOTNET) restore Spectrum.sln
	$(DOTNET) tool restore

build: deps
	$(DOTNET) build Spectrum.sln -c $(CONFIGURATION) --no-restore

# Rebuilt only when tests/guest changes or Debian ships another cloud kernel.
guest: deps
	@bash tests/guest/build-guest.sh $(GUEST_DIR) >/dev/null

# The broker on its embedded default: state in .state/, a demo tree, the example policies.
run: deps guest
	$(DOTNET) build Broker/Spectrum.Broker/Spectrum.Broker.csproj -c $(CONFIGURATION) --no-restore
	$(DOTNET) build Broker/Spectrum.Grant/Spectrum.Grant.csproj -c $(CONFIGURATION) --no-restore
	$(DOTNET) build Broker/Spectrum.Vm/Spectrum.Vm.csproj -c $(CONFIGURATION) --no-restore
	@echo "control socket: $(CURDIR)/.state/run/broker.sock"
	@echo "in another shell: export SPECTRUM_SOCKET=$(CURDIR)/.state/run/broker.sock; Broker/Spectrum.Grant/bin/$(CONFIGURATION)/net10.0/spectrum-grant list"
	@echo "VMs: Broker/Spectrum.Vm/bin/$(CONFIGURATION)/net10.0/spectrum-vm list (then run VM, open VM PATH, stop VM)"
	$(DOTNET) Broker/Spectrum.Broker/bin/$(CONFIGURATION)/net10.0/spectrum-broker.dll

# Ends with one summary line, "N passed, N failed, N skipped", over every test project.
test: build guest
	@set -o pipefail; status=0; \
	$(DOTNET) test Spectrum.sln -c $(CONFIGURATION) --no-build --logger "console;verbosity=normal" 2>&1 | tee .state/test.log || status=$$?; \
	awk '/^ +Passed: [0-9]+$$/{p+=$$2} /^ +Failed: [0-9]+$$/{f+=$$2} /^ +Skipped: [0-9]+$$/{s+=$$2} END{printf "%d passed, %d failed, %d skipped\n", p, f, s}' .state/test.log; \
	exit $$status

# Framework-dependent installs under $(PREFIX)/lib/spectrum with launchers in $(PREFIX)/bin.
install: deps
	@for app in Broker/Spectrum.Broker:spectrum-broker Broker/Spectrum.Grant:spectrum-grant Broker/Spectrum.Vm:spectrum-vm; do \
		proj=$${app%%:*}; name=$${app#*:}; \
		$(DOTNET) publish $$proj -c $(CONFIGURATION) --no-restore -o $(DESTDIR)$(PREFIX)/lib/spectrum/$$name || exit 1; \
		install -d $(DESTDIR)$(PREFIX)/bin; \
		printf '#!/bin/sh\nexec $(PREFIX)/lib/spectrum/%s/%s "$$@"\n' $$name $$name > $(DESTDIR)$(PREFIX)/bin/$$name; \
		chmod 755 $(DESTDIR)$(PREFIX)/bin/$$name; \
	done
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|@PREFIX@|$(PREFIX)|g' Broker/spectrum-broker.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/spectrum-broker.service

# In-process toolchain: BenchmarkDotNet's default would rebuild the solution into a generated
# project; ratios are what count here (BENCHMARKS.md), and both sides run in the same process.
bench: deps
	$(DOTNET) build bench/Spectrum.Bench -c Release --no-restore
	$(DOTNET) bench/Spectrum.Bench/bin/Release/net10.0/Spectrum.Bench.dll --filter '*' --inProcess $(BENCH_ARGS)

clean:
	$(DOTNET) clean Spectrum.sln
