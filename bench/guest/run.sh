#!/usr/bin/env bash
# bench/guest/run.sh: the through-a-guest I/O benchmark of BENCHMARKS.md ("Through a guest"):
# the broker's view exported by virtiofsd against plain virtiofsd on the raw directory, measured
# inside QEMU guests. Builds Spectrum.Bench (Release) and runs its guest-io subcommand; README.md
# beside this script explains what it measures and how to read it.
#
# Usage (as root: the broker mounts a FUSE view, virtiofsd sandboxes with chroot):
#   bench/guest/run.sh [--runs N] [--reps N] [--big-mib N] [--small N] [--create N]
#                      [--guest-dir DIR] [--scratch DIR] [--passthrough] [--timeout S] [--keep]
#   bench/guest/run.sh --help
#
# Environment: SPECTRUM_BENCH_ARTIFACTS  build with --artifacts-path DIR (a private build folder,
#              for a checkout that others build at the same time); SPECTRUM_GUEST_DIR  the default
#              of --guest-dir (/var/tmp/spectrum-guest).
# Needs: the .NET SDK, qemu-system-x86 (QEMU and /usr/lib/qemu/virtiofsd), busybox-static, cpio,
# and an apt index (tests/guest/build-guest.sh downloads the Debian kernel and busybox).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
if [[ -n ${SPECTRUM_BENCH_ARTIFACTS:-} ]]; then
    dotnet build bench/Spectrum.Bench -c Release --nologo -v quiet --artifacts-path "$SPECTRUM_BENCH_ARTIFACTS" >&2
    dll="$SPECTRUM_BENCH_ARTIFACTS/bin/Spectrum.Bench/release/Spectrum.Bench.dll"
else
    dotnet build bench/Spectrum.Bench -c Release --nologo -v quiet >&2
    dll=bench/Spectrum.Bench/bin/Release/net10.0/Spectrum.Bench.dll
fi
exec dotnet "$dll" guest-io "$@"
