#!/usr/bin/env bash
# Bounded AFL++ run of one SharpFuzz target: tests/fuzz/run.sh TARGET SECONDS
#   TARGET   a target of tests/Spectrum.Fuzz with a seed corpus in tests/fuzz/corpus/TARGET (portal)
#   SECONDS  how long afl-fuzz fuzzes (-V), after calibrating the seeds
# Needs afl++ (Makefile APT_PACKAGES) and the sharpfuzz tool (.config/dotnet-tools.json), and a
# Release build of tests/Spectrum.Fuzz (make build). Works on a copy: the instrumented broker
# assembly never replaces the one the other tests use. Prints "fuzz TARGET: execs N, paths N,
# crashes N, hangs N" and exits 1 if afl-fuzz saved any crash (replaying each to show why).
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?usage: tests/fuzz/run.sh TARGET SECONDS}
seconds=${2:?usage: tests/fuzz/run.sh TARGET SECONDS}
configuration=${CONFIGURATION:-Release}
corpus=tests/fuzz/corpus/$target
built=tests/Spectrum.Fuzz/bin/$configuration/net10.0
work=${FUZZ_WORK:-.state/fuzz/$target}

[ -d "$corpus" ] || { echo "run.sh: no seed corpus $corpus; add one" >&2; exit 2; }
[ -f "$built/Spectrum.Fuzz.dll" ] || { echo "run.sh: $built/Spectrum.Fuzz.dll missing; run make build" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "run.sh: afl-fuzz missing; make deps installs afl++" >&2; exit 2; }

rm -rf "$work"
mkdir -p "$work"
cp -r "$built" "$work/app"
dotnet tool restore >/dev/null
# Only the wire reader is instrumented: AFL's coverage map then measures the code under test,
# not the hosting and SQLite code the broker assembly also holds.
dotnet tool run sharpfuzz "$work/app/spectrum-broker.dll" Spectrum.Broker.Portal.Wire >/dev/null

# dotnet itself is not AFL-instrumented (SharpFuzz instruments the assembly and speaks the fork
# server protocol from managed code), hence SKIP_BIN_CHECK. CI runs as root on a shared 2-core
# box: no CPU governor to tune, no free core to pin to, no UI. afl-fuzz refuses a core_pattern
# that pipes to a program (systemd-coredump, apport) because crashes may be reported late; a
# managed crash is an exception that SharpFuzz turns into an abort in the target, seen at once,
# so that check is waived rather than rewriting the machine's core_pattern.
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1 \
    AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_FORKSRV_INIT_TMOUT=60000 AFL_SKIP_CRASHES=0
case "$(cat /proc/sys/kernel/core_pattern 2>/dev/null)" in
    \|*) echo "run.sh: core_pattern pipes to a program; crashes are still caught by the fork server" ;;
esac

status=0
afl-fuzz -i "$corpus" -o "$work/out" -t 5000 -m none -V "$seconds" -- dotnet "$work/app/Spectrum.Fuzz.dll" "$target" \
    >"$work/afl.log" 2>&1 || status=$?
stats=$work/out/default/fuzzer_stats
if [ ! -f "$stats" ]; then
    echo "run.sh: afl-fuzz did not start (exit $status); its log:" >&2
    tail -n 30 "$work/afl.log" >&2
    exit 2
fi

stat() { awk -v k="$1" '$1 == k { print $3 }' "$stats"; }
crashes=$(find "$work/out/default/crashes" -type f ! -name README.txt | wc -l)
hangs=$(find "$work/out/default/hangs" -type f | wc -l)
echo "fuzz $target: execs $(stat execs_done), paths $(stat corpus_count), crashes $crashes, hangs $hangs, ${seconds}s"
if [ "$crashes" -gt 0 ]; then
    echo "run.sh: afl-fuzz saved crashing inputs in $work/out/default/crashes; replaying them:" >&2
    dotnet "$built/Spectrum.Fuzz.dll" "$target" "$work/out/default/crashes" >&2 || true
    exit 1
fi
