#!/usr/bin/env bash
# bench/datapath/run.sh: the data-path benchmark of BENCHMARKS.md ("The data path (FUSE view)",
# in ../shared/ beside the checkout), in one run, on one data set, on one filesystem. README.md
# explains the choices (cold/warm, interleaving, why create is cold) and how to read the ratios.
#
# Usage (as root):
#   bench/datapath/run.sh [--quick] [--runs N] [--scratch DIR] [--out FILE] [--view] [--keep]
#
#   --quick        smoke test: 1 run, a 128 MiB file, 2,000 small files, 2,000 creates
#   --runs N       runs per workload (default 3; the median is reported)
#   --scratch DIR  parent of the scratch dir (default $DATAPATH_SCRATCH or /var/tmp); the data set
#                  and every mount live there; at least 2 GiB must be free
#   --out FILE     also write the report (markdown) to FILE; the report always goes to stdout,
#                  progress to stderr
#   --view         use the default view hook: VIEW_START="view-hook.sh start",
#                  VIEW_STOP="view-hook.sh stop" (see view-hook.sh)
#   --keep         keep the scratch dir (data set, logs, built binaries) at the end
#   -h, --help     this text
#
# Configurations, each over the same backing directory:
#   native    the backing directory itself
#   libfuse   Debian's libfuse3-dev example passthrough_ll.c, compiled here, -o source=TREE,timeout=1
#             (the data set is TREE/data, reached through mountpoint/data like the view's)
#             (plus, for the round-trip table only, a second mount with timeout=0,cache=never)
#   view      passthrough off and on: "$VIEW_START BACKING PASSTHROUGH(0|1)" must print the view
#             mountpoint (the backing dir as seen through the view) on stdout; "$VIEW_STOP BACKING
#             PASSTHROUGH" stops it. Both are command lines split on whitespace and get
#             BENCH_VIEW_STATE, a fresh dir per configuration. VIEW_START unset: the view rows are
#             skipped, and the report says so. A hook that fails is reported with its stderr.
#
# Workloads (median of N runs; every config is started first and each workload then runs in
# rounds over all of them; "cold" = sync + drop_caches before each run, done twice, see README.md;
# "warm" = an identical untimed run right before; on a VM that reports free pages to its host,
# reporting is held off for the run where the kernel allows it, see README.md):
#   seqread cold/warm   fio --rw=read --bs=1M --ioengine=psync over the big file
#   stat cold/warm      fstatat() each small file by name (meta stat)
#   readdir cold        list the small-file dir (meta readdir)
#   readdir+stat cold   list it and stat every entry (meta readdirstat)
#   create cold         create + write 4 KiB + close N files in a fresh dir (meta create)
#   fstat               50,000 x fstat() on one open file: the per-request round trip (µs per call)
#
# Requires: root, gcc, pkg-config, libfuse3-dev (fuse3), fusermount3, fio, jq or python3.
# Environment: VIEW_START, VIEW_STOP, DATAPATH_SCRATCH, and for view-hook.sh SPECTRUM_BROKER,
# VIEW_WAIT.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=${0##*/}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }
say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# Options.
runs=""
quick=0
scratch_parent=${DATAPATH_SCRATCH:-/var/tmp}
out=""
keep=0
use_hook=0
while (($#)); do
    case $1 in
        --quick) quick=1 ;;
        --runs) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive integer"; runs=$2; shift ;;
        --runs=*) runs=${1#*=}; [[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive integer" ;;
        --scratch) [[ -n ${2:-} ]] || die "--scratch needs a directory"; scratch_parent=$2; shift ;;
        --scratch=*) scratch_parent=${1#*=} ;;
        --out) [[ -n ${2:-} ]] || die "--out needs a file"; out=$2; shift ;;
        --out=*) out=${1#*=} ;;
        --view) use_hook=1 ;;
        --keep) keep=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

if ((quick)); then
    : "${runs:=1}"; big_mib=128; nsmall=2000; ncreate=2000
else
    : "${runs:=3}"; big_mib=512; nsmall=10000; ncreate=5000
fi
nfstat=50000
small_bytes=4096
min_free_kib=$((2 * 1024 * 1024))

if ((use_hook)); then
    VIEW_START="$here/view-hook.sh start"
    VIEW_STOP="$here/view-hook.sh stop"
fi
view_start=()
view_stop=()
if [[ -n ${VIEW_START:-} ]]; then
    read -r -a view_start <<<"$VIEW_START"
    if [[ -n ${VIEW_STOP:-} ]]; then read -r -a view_stop <<<"$VIEW_STOP"; fi
fi

# ---------------------------------------------------------------------------------------------
# Preconditions.
((EUID == 0)) || die "must run as root (drop_caches, FUSE mounts, the broker's view)"
pll_src=/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c
for tool in gcc pkg-config fio fusermount3 timeout findmnt df; do
    command -v "$tool" >/dev/null || die "missing tool: $tool (apt-get install fuse3 libfuse3-dev pkg-config gcc fio)"
done
[[ -r $pll_src ]] || die "missing $pll_src (apt-get install libfuse3-dev)"
pkg-config --exists fuse3 || die "pkg-config knows no fuse3 (apt-get install libfuse3-dev)"
if command -v jq >/dev/null; then json=jq
elif command -v python3 >/dev/null; then json=python3
else die "need jq or python3 to read fio's JSON"; fi
[[ -e /dev/fuse ]] || die "no /dev/fuse (modprobe fuse)"
[[ -w /proc/sys/vm/drop_caches ]] || die "/proc/sys/vm/drop_caches is not writable (a container without it cannot measure cold caches)"
if [[ -n $out ]]; then
    : >"$out" || die "cannot write $out"
    out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
fi

[[ -d $scratch_parent ]] || die "scratch parent $scratch_parent does not exist"
scratch_parent=$(cd "$scratch_parent" && pwd)
[[ $scratch_parent != *[[:space:]]* ]] || die "the scratch path must not contain whitespace: $scratch_parent"
free_kib=$(df -Pk "$scratch_parent" | awk 'NR == 2 { print $4 }')
if ((free_kib < min_free_kib)); then
    die "only $((free_kib / 1024)) MiB free under $scratch_parent; need at least 2048 MiB (use --scratch DIR)"
fi

# ---------------------------------------------------------------------------------------------
# Scratch, cleanup.
work=$(mktemp -d "$scratch_parent/spectrum-datapath.XXXXXX")
backing="$work/tree/data"
build="$work/build"
logs="$work/logs"
mkdir -p "$backing" "$build" "$logs" "$work/mnt"

declare -A fuse_pid=() # mountpoint -> passthrough_ll pid, while mounted
declare -a view_started=() # configs whose VIEW_START was attempted

is_mounted() { awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; }

unmount_libfuse() {
    local mp=$1 pid=${fuse_pid[$1]:-}
    if is_mounted "$mp"; then
        fusermount3 -u "$mp" 2>/dev/null || umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null ||
            say "warning: could not unmount $mp"
    fi
    if [[ -n $pid ]]; then
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
        wait "$pid" 2>/dev/null || true
    fi
    unset 'fuse_pid[$mp]'
}

stop_view() {
    local cfg=$1 pt=$2
    ((${#view_stop[@]})) || return 0
    BENCH_VIEW_STATE="$work/$cfg" timeout 60 "${view_stop[@]}" "$backing" "$pt" \
        >>"$logs/$cfg.stop.log" 2>&1 || say "warning: VIEW_STOP failed for $cfg (see $logs/$cfg.stop.log)"
}

cleanup() {
    local rc=$? mp cfg
    trap - EXIT INT TERM
    release_page_reporting
    for mp in "${!fuse_pid[@]}"; do unmount_libfuse "$mp"; done
    for cfg in "${view_started[@]}"; do
        case $cfg in view-on) stop_view "$cfg" 1 ;; *) stop_view "$cfg" 0 ;; esac
    done
    view_started=()
    if ((keep)); then
        say "kept $work"
    elif grep -qF " $work/" /proc/self/mountinfo; then
        say "warning: something is still mounted under $work; not deleting it"
    else
        rm -rf --one-file-system "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Free page reporting. On a VM whose kernel reports free memory to its host (virtio-balloon free
# page reporting, as on this kind of machine), the memory drop_caches frees is handed back to the
# host a moment later, and the next run's page cache then pays a host page fault per page: a cold
# 512 MiB read goes from ~600 to ~960 ms, at random, depending on whether the reporting pass ran
# between the drop and the read. That noise is larger than the gaps being measured, and it is not
# FUSE's. Where the kernel has a knob for the minimum time a page stays free before it is reported
# (min_free_ms), hold reporting off for the run and restore it at the end; otherwise the report says
# the cold columns carry that noise.
pr_dir=/sys/module/page_reporting/parameters
pr_saved=""
pr_note=""
hold_page_reporting() {
    if [[ ! -d $pr_dir ]]; then
        pr_note=""
    elif [[ -w $pr_dir/min_free_ms ]] && pr_saved=$(<"$pr_dir/min_free_ms") && pr_hold_ms; then
        pr_note="Free page reporting to the host held off for the run (page_reporting.min_free_ms $pr_saved → $(<"$pr_dir/min_free_ms"), restored after), so that no cold run pays host page faults the others do not."
    else
        pr_saved=""
        pr_note="**Note:** this kernel reports free pages to its host and has no min_free_ms knob to hold that off: a cold run whose page cache lands in memory already returned to the host is slower (on this kind of VM, a cold 512 MiB read ~1.6×). Expect bimodal cold samples; use more runs."
    fi
}
pr_hold_ms() { # the longest hold the kernel accepts (this one caps it at 5 min)
    local v
    for v in 3600000 600000 300000 60000; do
        echo "$v" >"$pr_dir/min_free_ms" 2>/dev/null && return 0
    done
    return 1
}
release_page_reporting() {
    if [[ -n $pr_saved ]]; then
        echo "$pr_saved" >"$pr_dir/min_free_ms" 2>/dev/null || say "warning: could not restore $pr_dir/min_free_ms to $pr_saved"
        pr_saved=""
    fi
}

drop_caches() {
    # Twice: the first pass evicts FUSE inodes, whose FORGETs let a daemon close the O_PATH fds
    # that pin the backing inodes; the second pass can then evict those too.
    sync
    echo 3 >/proc/sys/vm/drop_caches
    sleep 0.2
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

# ---------------------------------------------------------------------------------------------
# Build and data set.
say "scratch: $work ($(findmnt -n -o FSTYPE -T "$work"), $((free_kib / 1024)) MiB free)"
gcc -O2 -Wall -o "$build/meta" "$here/meta.c"
meta="$build/meta"
libfuse_version=$(pkg-config --modversion fuse3)
# shellcheck disable=SC2046 # pkg-config output must split into words
gcc -O2 -Wall -I"$(dirname "$pll_src")" -o "$build/passthrough_ll" "$pll_src" $(pkg-config --cflags --libs fuse3) \
    2>"$logs/passthrough_ll.build.log" || die "compiling passthrough_ll.c failed: $(cat "$logs/passthrough_ll.build.log")"

say "data set: ${big_mib} MiB file, $nsmall x ${small_bytes} B files, an empty create dir"
dd if=/dev/urandom of="$backing/big.bin" bs=1M count="$big_mib" status=none
mkdir "$backing/small" "$backing/create"
"$meta" populate "$backing/small" "$nsmall" "$small_bytes"
sync

# ---------------------------------------------------------------------------------------------
# Measurement helpers.
declare -A res=()   # cfg,workload -> median (ms), or empty
declare -A raw=()   # cfg,workload -> samples
declare -A err=()   # cfg,workload -> first error

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# fio_seqread FILE: prints the elapsed ms of one sequential read of the whole file.
fio_seqread() {
    local file=$1 jf ms
    jf=$(mktemp "$logs/fio.XXXXXX.json")
    # --invalidate=0: fio would otherwise fadvise(DONTNEED) the file first and no run would be warm.
    fio --name=seqread --filename="$file" --rw=read --bs=1M --ioengine=psync --size="${big_mib}M" \
        --invalidate=0 --readonly --output-format=json --output="$jf" >"$jf.stdout" 2>&1 ||
        { cat "$jf.stdout" "$jf" >&2; return 1; }
    if [[ $json == jq ]]; then
        ms=$(jq -r --argjson want "$((big_mib << 20))" \
            '.jobs[0].read | if .io_bytes != $want then "short:\(.io_bytes)" elif .bw_bytes > 0 then .io_bytes / .bw_bytes * 1000 else .runtime end' "$jf")
    else
        ms=$(python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))["jobs"][0]["read"]; want = int(sys.argv[2])
print("short:%d" % r["io_bytes"] if r["io_bytes"] != want else (r["io_bytes"] / r["bw_bytes"] * 1000 if r["bw_bytes"] else r["runtime"]))' "$jf" "$((big_mib << 20))")
    fi
    rm -f "$jf" "$jf.stdout"
    [[ $ms != short:* ]] || { echo "fio read ${ms#short:} bytes, expected $((big_mib << 20))" >&2; return 1; }
    awk -v v="$ms" 'BEGIN { printf "%.3f\n", v }'
}

# sample CFG KEY CMD...: one timed run; appends to the samples or records the error.
sample() {
    local cfg=$1 key=$2 v ef="$logs/$1.$2.err"
    shift 2
    if v=$("$@" 2>"$ef") && [[ $v =~ ^[0-9.eE+-]+$ ]]; then
        raw[$cfg,$key]+="$v "
        return 0
    fi
    err[$cfg,$key]="$(tail -n 3 "$ef" | tr '\n' ' ')${v:+ output: $v}"
    return 1
}

# One create run: a fresh dir made through the filesystem under test, removed through it after.
# Cold, and not only for symmetry: ext4 without a journal (this VM's root) skips every inode freed
# in the last 60 s whose inode-table block is still cached (recently_deleted() in ialloc.c), so
# creating right after the previous run's cleanup goes quadratic (5k creates: 3.5 s instead of
# 0.3 s). Dropping the clean buffers first makes every run, and every config, start alike.
create_once() {
    local cfg=$1 root=$2 d
    d="$root/create/$cfg-$RANDOM$RANDOM"
    mkdir "$d" || return 1
    drop_caches >&2
    "$meta" create "$d" "$ncreate" || { rm -rf "$d"; return 1; }
    rm -rf "$d" 2>/dev/null || rm -rf "${backing:?}/create/${d##*/}"
    sync
}

# workload_cmd KEY CFG ROOT: sets cmd (the command line) and mode (cold, warm or plain).
workload_cmd() {
    local key=$1 cfg=$2 root=$3
    case $key in
        seqread_cold) mode=cold; cmd=(fio_seqread "$root/big.bin") ;;
        seqread_warm) mode=warm; cmd=(fio_seqread "$root/big.bin") ;;
        stat_cold) mode=cold; cmd=("$meta" stat "$root/small" "$nsmall") ;;
        stat_warm) mode=warm; cmd=("$meta" stat "$root/small" "$nsmall") ;;
        readdir_cold) mode=cold; cmd=("$meta" readdir "$root/small") ;;
        readdirstat_cold) mode=cold; cmd=("$meta" readdirstat "$root/small") ;;
        create) mode=plain; cmd=(create_once "$cfg" "$root") ;;
        fstat) mode=warm; cmd=("$meta" fstat "$root/small/f00000" "$nfstat") ;;
        *) die "unknown workload $key" ;;
    esac
}

# The mountpoint looks like our data set, on a FUSE mount: no numbers from the wrong place.
check_view_root() {
    local root=$1 fstype
    [[ $root == /* && -d $root ]] || { echo "not an existing absolute directory: '$root'"; return 1; }
    fstype=$(findmnt -n -o FSTYPE -T "$root" 2>/dev/null || true)
    [[ $fstype == fuse* ]] || { echo "$root is not on a FUSE mount (filesystem type '${fstype:-?}')"; return 1; }
    [[ $(stat -c %s "$root/big.bin" 2>/dev/null) == "$((big_mib << 20))" && -f $root/small/f00000 && -d $root/create ]] ||
        { echo "$root does not show the data set (big.bin, small/, create/)"; return 1; }
}

# start_libfuse MOUNTPOINT OPTIONS LOG: not in a subshell (it records the daemon's pid); sets
# $why on failure.
start_libfuse() {
    local mp=$1 opts=$2 log=$3 pid
    why=""
    mkdir -p "$mp"
    # The tree, not the data set: libfuse reaches the data set through the same path as the view
    # (mountpoint/data/...), so that neither saves a cold lookup the other pays.
    "$build/passthrough_ll" -f -o "source=$work/tree,$opts" "$mp" >"$log" 2>&1 &
    pid=$!
    fuse_pid[$mp]=$pid
    for _ in $(seq 1 100); do
        is_mounted "$mp" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    unmount_libfuse "$mp"
    why="passthrough_ll did not mount $mp: $(tail -n 5 "$log" | tr '\n' ' ')"
    return 1
}

# ---------------------------------------------------------------------------------------------
# Configurations: all are started first, then every workload runs round-robin over them (see
# README.md), so that a noisy neighbour or drift hits every configuration alike.
declare -A cfg_root=() cfg_name=() cfg_fail=()
configs=()

configs+=(native); cfg_name[native]="native"; cfg_root[native]=$backing

# libfuse, timeout=1 (cache=auto, the example's default): every workload
configs+=(libfuse); cfg_name[libfuse]="libfuse $libfuse_version passthrough_ll (timeout=1)"
say "config libfuse: mounting $work/mnt/libfuse"
if start_libfuse "$work/mnt/libfuse" "timeout=1" "$logs/libfuse.log"; then
    cfg_root[libfuse]="$work/mnt/libfuse/data"
else
    cfg_fail[libfuse]=$why
fi

# libfuse, no caching: the per-request round trip only
configs+=(libfuse-nocache); cfg_name[libfuse-nocache]="libfuse $libfuse_version passthrough_ll (timeout=0, cache=never)"
say "config libfuse-nocache (round trip only): mounting $work/mnt/libfuse-nocache"
if start_libfuse "$work/mnt/libfuse-nocache" "timeout=0,cache=never" "$logs/libfuse-nocache.log"; then
    cfg_root[libfuse-nocache]="$work/mnt/libfuse-nocache/data"
else
    cfg_fail[libfuse-nocache]=$why
fi

# view, passthrough off and on
view_note=""
if ((${#view_start[@]} == 0)); then
    view_note="view: skipped (no VIEW_START hook; the view filesystem is not built yet)"
    say "$view_note"
else
    for cfg in view-off view-on; do
        pt=0; [[ $cfg == view-on ]] && pt=1
        cfg_name[$cfg]="view, passthrough $( ((pt)) && echo on || echo off)"
        configs+=("$cfg")
        mkdir -p "$work/$cfg"
        view_started+=("$cfg")
        say "config $cfg: ${view_start[*]} $backing $pt"
        rc=0
        root=$(BENCH_VIEW_STATE="$work/$cfg" timeout 120 "${view_start[@]}" "$backing" "$pt" \
            2>"$logs/$cfg.start.err") || rc=$?
        root=$(printf '%s' "$root" | tail -n 1)
        if ((rc != 0)); then
            why="VIEW_START exited with status $rc"
            if ((rc == 124)); then why+=" (timed out after 120 s)"; fi
            cfg_fail[$cfg]="$why. Its stderr:
$(tail -n 25 "$logs/$cfg.start.err")"
        elif ! why=$(check_view_root "$root"); then
            cfg_fail[$cfg]="VIEW_START printed a mountpoint that cannot be measured: $why. Its stderr:
$(tail -n 25 "$logs/$cfg.start.err")"
        else
            cfg_root[$cfg]=$root
            say "config $cfg: $root"
        fi
        if [[ -n ${cfg_fail[$cfg]:-} ]]; then
            say "$cfg: failed to start (details in the report)"
            stop_view "$cfg" "$pt"
            view_started=("${view_started[@]:0:${#view_started[@]}-1}")
        fi
    done
fi

# ---------------------------------------------------------------------------------------------
# Measurement: for each workload, $runs rounds; each round visits every started configuration,
# starting one further along each round. Cold: drop caches right before the timed run. Warm: an
# identical untimed run right before it.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
hold_page_reporting
active=()
for cfg in "${configs[@]}"; do
    if [[ -n ${cfg_root[$cfg]:-} ]]; then active+=("$cfg"); fi
done
for key in seqread_cold seqread_warm stat_cold stat_warm readdir_cold readdirstat_cold create fstat; do
    say "workload $key: $runs round(s) over ${active[*]}"
    for ((r = 0; r < runs; r++)); do
        for ((j = 0; j < ${#active[@]}; j++)); do
            cfg=${active[(j + r) % ${#active[@]}]}
            if [[ $cfg == libfuse-nocache && $key != fstat ]] || [[ -n ${err[$cfg,$key]:-} ]]; then
                continue
            fi
            workload_cmd "$key" "$cfg" "${cfg_root[$cfg]}"
            case $mode in
                cold) drop_caches ;;
                warm)
                    if ! "${cmd[@]}" >/dev/null 2>"$logs/$cfg.$key.warmup.err"; then
                        err[$cfg,$key]="warm-up: $(tail -n 3 "$logs/$cfg.$key.warmup.err" | tr '\n' ' ')"
                        continue
                    fi ;;
            esac
            sample "$cfg" "$key" "${cmd[@]}" || true
        done
    done
    for cfg in "${active[@]}"; do
        if [[ -z ${err[$cfg,$key]:-} && -n ${raw[$cfg,$key]:-} ]]; then
            # shellcheck disable=SC2086 # the samples are space-separated numbers
            res[$cfg,$key]=$(median ${raw[$cfg,$key]})
        fi
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
release_page_reporting

for mp in "${!fuse_pid[@]}"; do unmount_libfuse "$mp"; done
for cfg in "${view_started[@]}"; do
    case $cfg in view-on) stop_view "$cfg" 1 ;; *) stop_view "$cfg" 0 ;; esac
done
view_started=()

# ---------------------------------------------------------------------------------------------
# Report.
fmt_ms() { awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f", v; else if (v >= 10) printf "%.1f", v; else printf "%.2f", v }'; }
fmt_ratio() { awk -v v="$1" -v n="$2" 'BEGIN { if (n <= 0) { printf "?"; exit } r = v / n; if (r >= 10) printf "%.0f×", r; else printf "%.1f×", r }'; }
k_label() { awk -v n="$1" 'BEGIN { if (n % 1000 == 0) printf "%dk", n / 1000; else printf "%d", n }'; }

keys=(seqread_cold seqread_warm stat_cold stat_warm readdir_cold readdirstat_cold create)
declare -A colhead=(
    [seqread_cold]="seqread ${big_mib}M cold" [seqread_warm]="seqread ${big_mib}M warm"
    [stat_cold]="stat $(k_label "$nsmall") cold" [stat_warm]="stat $(k_label "$nsmall") warm"
    [readdir_cold]="readdir $(k_label "$nsmall") cold" [readdirstat_cold]="readdir+stat $(k_label "$nsmall") cold"
    [create]="create $(k_label "$ncreate") cold"
)

cell() { # cell CFG KEY: "median (ratio)" or a marker
    local cfg=$1 key=$2 v n
    v=${res[$cfg,$key]:-}
    if [[ -z $v ]]; then
        if [[ -n ${err[$cfg,$key]:-} ]]; then printf 'error'; else printf '—'; fi
        return
    fi
    printf '%s' "$(fmt_ms "$v")"
    n=${res[native,$key]:-}
    [[ $cfg == native || -z $n ]] || printf ' (%s)' "$(fmt_ratio "$v" "$n")"
}

us_per_call() { awk -v ms="$1" -v n="$nfstat" 'BEGIN { printf "%.4f", ms * 1000 / n }'; }
fmt_us() { awk -v v="$1" 'BEGIN { if (v >= 10) printf "%.1f µs", v; else printf "%.2f µs", v }'; }

# paired A B KEY: per-round ratios A/B (the two samples of a round were taken seconds apart,
# under the same load), as "median [Q1–Q3] verdict"; empty when either has no samples.
paired() {
    local a=${raw[$1,$3]:-} b=${raw[$2,$3]:-}
    [[ -n $a && -n $b && -z ${err[$1,$3]:-} && -z ${err[$2,$3]:-} ]] || return 0
    awk -v a="$a" -v b="$b" 'BEGIN {
        na = split(a, x, " "); nb = split(b, y, " "); n = na < nb ? na : nb
        for (i = 1; i <= n; i++) r[i] = x[i] / y[i]
        for (i = 2; i <= n; i++) { v = r[i]; for (j = i - 1; j >= 1 && r[j] > v; j--) r[j + 1] = r[j]; r[j + 1] = v }
        med = n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
        lo = int((n + 3) / 4); hi = n + 1 - lo
        # Under 3% is below what this benchmark resolves (warm medians move that much between runs).
        verdict = med > 0.97 && med < 1.03 ? "level (within 3%)" : r[hi] < 1 ? "faster" : r[lo] > 1 ? "slower" : "level (within noise)"
        printf "%.2f× [%.2f–%.2f] %s", med, r[lo], r[hi], verdict }'
}

paired_table() {
    local pairs=() pair a b key line
    [[ -n ${res[view-off,seqread_cold]:-}${res[view-off,stat_cold]:-} && -n ${cfg_root[libfuse]:-} ]] && pairs+=("view-off libfuse")
    [[ -n ${res[view-on,seqread_cold]:-}${res[view-on,stat_cold]:-} ]] && pairs+=("view-on native")
    ((${#pairs[@]})) || return 0
    echo
    echo "**Paired, round by round** (the ratio of the two configs' samples in the same round: median" \
        "[interquartile range]; \"faster\"/\"slower\" only when the whole range is below/above 1 and the median differs from 1 by 3% or more):"
    echo
    line="| pair |"; for key in "${keys[@]}"; do line+=" ${colhead[$key]} |"; done; echo "$line"
    line="|---|"; for key in "${keys[@]}"; do line+="---|"; done; echo "$line"
    for pair in "${pairs[@]}"; do
        read -r a b <<<"$pair"
        line="| ${cfg_name[$a]} / ${cfg_name[$b]} |"
        for key in "${keys[@]}"; do line+=" $(paired "$a" "$b" "$key") |"; done
        echo "$line"
    done
}

report() {
    local cfg key line us nus served
    echo "## Data path benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "$(uname -r), $(nproc) CPUs, scratch on $(findmnt -n -o FSTYPE -T "$work") ($scratch_parent)," \
        "libfuse $libfuse_version, fio $(fio --version | sed 's/^fio-//')." \
        "Median of $runs run(s), in ms, configurations interleaved round-robin; the ratio to native in brackets." \
        "Data set: one ${big_mib} MiB file, $nsmall files of $small_bytes B in one directory," \
        "$ncreate files created per create run." \
        "Load average before/after: $load_before / $load_after.$( ((quick)) && echo ' **--quick: smoke test, not reference numbers.**')"
    if awk -v l="${load_before%% *} ${load_after%% *}" -v n="$(nproc)" 'BEGIN { split(l, a, " "); exit !(a[1] > n / 2 || a[2] > n / 2) }'; then
        echo
        echo "**Warning:** the machine was busy (load average above half the CPUs): expect noise; rerun on a quiet machine."
    fi
    echo
    [[ -z $pr_note ]] || { echo "$pr_note"; echo; }
    [[ -z $view_note ]] || { echo "$view_note"; echo; }

    line="| config |"; for key in "${keys[@]}"; do line+=" ${colhead[$key]} |"; done; echo "$line"
    line="|---|"; for key in "${keys[@]}"; do line+="---|"; done; echo "$line"
    for cfg in "${configs[@]}"; do
        [[ $cfg == libfuse-nocache ]] && continue
        if [[ -n ${cfg_fail[$cfg]:-} ]]; then
            line="| ${cfg_name[$cfg]}: **failed to start** |"
            for key in "${keys[@]}"; do line+=" — |"; done
        else
            line="| ${cfg_name[$cfg]} |"
            for key in "${keys[@]}"; do line+=" $(cell "$cfg" "$key") |"; done
        fi
        echo "$line"
    done
    paired_table
    echo
    echo "**Per-request round trip** ($nfstat× \`fstat\` on an open file; µs per call, median of $runs run(s)):"
    echo
    echo "| config | round trip | served by |"
    echo "|---|---|---|"
    nus=""
    [[ -z ${res[native,fstat]:-} ]] || nus=$(us_per_call "${res[native,fstat]}")
    for cfg in "${configs[@]}"; do
        if [[ -n ${cfg_fail[$cfg]:-} ]]; then
            echo "| ${cfg_name[$cfg]} | failed to start | |"
            continue
        fi
        if [[ -z ${res[$cfg,fstat]:-} ]]; then
            echo "| ${cfg_name[$cfg]} | $( [[ -n ${err[$cfg,fstat]:-} ]] && echo error || echo —) | |"
            continue
        fi
        us=$(us_per_call "${res[$cfg,fstat]}")
        case $cfg in
            native) served="the syscall alone" ;;
            libfuse) served="the kernel's attribute cache (timeout=1): not a round trip" ;;
            libfuse-nocache) served="a GETATTR round trip to the daemon every call" ;;
            *) if awk -v u="$us" -v n="${nus:-0}" 'BEGIN { exit !(u < n * 3 + 1) }'; then
                   served="the kernel's attribute cache (inferred from the time)"
               else
                   served="round trips to the daemon (inferred from the time)"
               fi ;;
        esac
        line="| ${cfg_name[$cfg]} | $(fmt_us "$us")"
        [[ $cfg == native || -z $nus ]] || line+=" ($(fmt_ratio "$us" "$nus"))"
        echo "$line | $served |"
    done

    local notes=()
    for cfg in "${configs[@]}"; do
        [[ -z ${cfg_fail[$cfg]:-} ]] || notes+=("**${cfg_name[$cfg]}** failed to start: ${cfg_fail[$cfg]}")
        for key in "${keys[@]}" fstat; do
            [[ -z ${err[$cfg,$key]:-} ]] || notes+=("**${cfg_name[$cfg]}**, $key: error: ${err[$cfg,$key]}")
        done
    done
    if ((${#notes[@]})); then
        echo
        echo "Failures:"
        echo
        local n
        for n in "${notes[@]}"; do
            printf -- '- %s\n' "${n%%$'\n'*}"
            if [[ $n == *$'\n'* ]]; then
                # shellcheck disable=SC2016 # the backticks are a literal code fence
                printf '\n```\n%s\n```\n' "${n#*$'\n'}" | sed 's/^/  /'
            fi
        done
    fi
    echo
    echo "<details><summary>raw samples (ms)</summary>"
    echo
    for cfg in "${configs[@]}"; do
        for key in "${keys[@]}" fstat; do
            [[ -z ${raw[$cfg,$key]:-} ]] || echo "- ${cfg}, ${key}: ${raw[$cfg,$key]% }"
        done
    done
    echo
    echo "</details>"
}

if [[ -n $out ]]; then
    report | tee "$out"
    say "report written to $out"
else
    report
fi
