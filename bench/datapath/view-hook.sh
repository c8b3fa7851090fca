#!/usr/bin/env bash
# view-hook.sh: the default VIEW_START / VIEW_STOP hook of bench/datapath/run.sh.
#
# Usage:
#   view-hook.sh start BACKING_DIR PASSTHROUGH(0|1)   start a broker, print the view's mountpoint
#   view-hook.sh stop  [BACKING_DIR PASSTHROUGH]      SIGTERM that broker and wait for it
#
# run.sh uses it with:   run.sh --view
# or, equivalently:      VIEW_START="bench/datapath/view-hook.sh start" \
#                        VIEW_STOP="bench/datapath/view-hook.sh stop" run.sh
#
# start:
#   - writes a policies dir holding only vms/bench.toml:
#         [[grant]] path = "<basename of BACKING_DIR>"  rights = "rw"
#         [view]    passthrough = true|false
#   - runs "$SPECTRUM_BROKER --tree <parent of BACKING_DIR> --state-dir S --runtime-dir R
#     --policies P" in the background (log: $BENCH_VIEW_STATE/broker.log);
#   - waits until $R/vm/bench/view/<basename> exists on a FUSE mount and prints that path.
#   On failure (broker exits, timeout) it stops the broker, prints why and the log tail on stderr
#   and exits non-zero.
#
# Environment:
#   BENCH_VIEW_STATE  state dir shared by start and stop (run.sh sets one per configuration;
#                     default /tmp/spectrum-bench-view). Holds policies/, state/, run/,
#                     broker.log, broker.pid.
#   SPECTRUM_BROKER   the broker binary (default Broker/Spectrum.Broker/bin/Release/net10.0/
#                     spectrum-broker; a relative path is taken from the repository root).
#   VIEW_WAIT         seconds to wait for the view to appear (default 20).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${BENCH_VIEW_STATE:-/tmp/spectrum-bench-view}
broker=${SPECTRUM_BROKER:-Broker/Spectrum.Broker/bin/Release/net10.0/spectrum-broker}
[[ $broker == /* ]] || broker="$repo/$broker"
wait_s=${VIEW_WAIT:-20}
vm=bench

err() { printf 'view-hook: %s\n' "$*" >&2; }

log_tail() {
    if [[ -s $state/broker.log ]]; then
        err "last lines of $state/broker.log:"
        tail -n 15 "$state/broker.log" | sed 's/^/    /' >&2
    fi
}

# True when $1 is the target of a FUSE mount (mountinfo field 5; fstype after " - ").
is_fuse_mount() {
    awk -v m="$1" '$5 == m { for (i = 6; i <= NF; i++) if ($i == "-") { if ($(i + 1) ~ /^fuse/) found = 1; break } }
        END { exit !found }' /proc/self/mountinfo
}

stop_broker() {
    local pid
    [[ -f $state/broker.pid ]] || return 0
    pid=$(<"$state/broker.pid")
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 150); do # 15 s, then SIGKILL
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            err "broker $pid did not exit on SIGTERM within 15 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
    fi
    rm -f "$state/broker.pid"
    # A broker killed hard may leave its view mounted: never leave a stale mount behind.
    local mp="$state/run/vm/$vm/view"
    if is_fuse_mount "$mp"; then
        err "the view is still mounted after the broker exited; unmounting $mp"
        fusermount3 -u "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || err "could not unmount $mp"
    fi
}

start() {
    local backing=${1:?usage: view-hook.sh start BACKING_DIR PASSTHROUGH}
    local passthrough=${2:?usage: view-hook.sh start BACKING_DIR PASSTHROUGH}
    local pt
    case $passthrough in
        1 | true) pt=true ;;
        0 | false) pt=false ;;
        *) err "PASSTHROUGH must be 0 or 1, not '$passthrough'"; exit 2 ;;
    esac
    backing=$(cd "$backing" && pwd)
    local tree name
    tree=$(dirname "$backing")
    name=$(basename "$backing")
    if [[ ! -x $broker ]]; then
        err "no broker binary at $broker (build it: dotnet build -c Release, or set SPECTRUM_BROKER)"
        exit 1
    fi
    stop_broker # a leftover of an earlier run with the same state dir

    mkdir -p "$state/policies/vms" "$state/state" "$state/run"
    cat >"$state/policies/vms/$vm.toml" <<EOF
# Written by bench/datapath/view-hook.sh for the data-path benchmark.
[[grant]]
path = "$name"
rights = "rw"

[view]
passthrough = $pt
EOF
    : >"$state/broker.log"
    # Detached from our stdout, which run.sh reads to its end for the mountpoint.
    "$broker" --tree "$tree" --state-dir "$state/state" --runtime-dir "$state/run" \
        --policies "$state/policies" </dev/null >>"$state/broker.log" 2>&1 &
    echo $! >"$state/broker.pid"

    local pid view deadline
    pid=$(<"$state/broker.pid")
    view="$state/run/vm/$vm/view/$name"
    deadline=$((SECONDS + wait_s))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            local rc=0
            wait "$pid" || rc=$?
            err "the broker exited (status $rc) before the view appeared at $view"
            log_tail
            rm -f "$state/broker.pid"
            exit 1
        fi
        if [[ -d $view ]] && is_fuse_mount "$state/run/vm/$vm/view"; then
            printf '%s\n' "$view"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            err "the view did not appear at $view within ${wait_s}s (broker $pid is running; the view filesystem may not be built yet)"
            log_tail
            stop_broker
            exit 1
        fi
        sleep 0.1
    done
}

case ${1:-} in
    start) shift; start "$@" ;;
    stop) stop_broker ;;
    *) err "usage: view-hook.sh start BACKING_DIR PASSTHROUGH(0|1) | view-hook.sh stop"; exit 2 ;;
esac
