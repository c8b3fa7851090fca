# The guest half of the through-a-guest I/O benchmark (bench/guest/, BENCHMARKS.md "Through a
# guest"). The host driver (Spectrum.Bench guest-io) boots this guest once over the broker's view
# and once over plain virtiofsd, with the same fixture at the same relative path, and compares.
#
# Kernel command line (besides spectrum.check=iobench):
#   spectrum.dir=REL      the fixture, relative to the share (required): REL/big is the file to read,
#                         REL/small/f1..fN the small files; create runs make REL/create.K and remove it
#   spectrum.nsmall=N     how many small files there are (default 2000)
#   spectrum.ncreate=N    files created per create run (default 1000)
#   spectrum.reps=R       rounds of all workloads in this boot (default 1)
# Output, one line per measurement, then the usual SPECTRUM-CHECK/DONE markers:
#   SPECTRUM-BENCH <workload> <round> <microseconds>
# preceded by SPECTRUM-BENCH-SHARE <top-level names of the share> and SPECTRUM-BENCH-INFO <settings>.
#
# Clock: busybox 1.35's date has no %N and a fork per reading, and /proc/uptime ticks in 10 ms.
# The "now at N nsecs" line of /proc/timer_list is ktime_get() (CLOCK_MONOTONIC) in ns, read with
# the shell's own `read`, no fork; one reading costs ~0.3-0.6 ms under TCG (the kernel formats a
# page), constant across configurations and small against the workloads (hundreds of ms).
#
# Cold = `sync; echo 3 >/proc/sys/vm/drop_caches` in the guest right before the timed run: the
# guest's dentries, inodes and pages go (FORGETs reach virtiofsd). The host's caches stay warm
# (the driver pre-reads the fixture on the host), the same for both configurations.
# Everything runs in busybox ash; the loops use builtins only (printf, read, redirections), so
# the per-file cost is the filesystem's, not fork+exec's.

fail() { echo "SPECTRUM-CHECK iobench FAIL $1"; }

dir='' nsmall=2000 ncreate=1000 reps=1
read -r cmdline </proc/cmdline
for arg in $cmdline; do
    case "$arg" in
        spectrum.dir=*) dir="${arg#spectrum.dir=}" ;;
        spectrum.nsmall=*) nsmall="${arg#spectrum.nsmall=}" ;;
        spectrum.ncreate=*) ncreate="${arg#spectrum.ncreate=}" ;;
        spectrum.reps=*) reps="${arg#spectrum.reps=}" ;;
    esac
done

# now: t = CLOCK_MONOTONIC in ns.
now() { { read -r _; read -r _; read -r _ _ t _; } </proc/timer_list; }
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# report WORKLOAD ROUND START_NS: the time since START_NS, in µs.
report() { now; echo "SPECTRUM-BENCH $1 $2 $(( (t - $3) / 1000 ))"; }

run() {
    D="$VIEW/$dir"
    if [ -z "$dir" ]; then fail "no spectrum.dir= on the kernel command line"; return; fi
    if [ ! -f "$D/big" ] || [ ! -f "$D/small/f$nsmall" ]; then
        fail "fixture missing: $D/big or $D/small/f$nsmall ($(ls "$VIEW" 2>&1 | head -n 5 | tr '\n' ' '))"
        return
    fi
    if ! now || [ -z "$t" ]; then fail "no clock: /proc/timer_list unreadable"; return; fi

    # The names to stat, built once (untimed): f1 .. fN, relative to $D/small.
    names=
    i=1
    while [ "$i" -le "$nsmall" ]; do names="$names f$i"; i=$((i + 1)); done
    # 4 KiB of data for each created file.
    blk=0123456789abcdef
    for _ in 1 2 3 4 5 6 7 8; do blk="$blk$blk"; done

    # What the share shows at its top: the host checks it, so a view run can never be a plain one.
    echo "SPECTRUM-BENCH-SHARE $(ls "$VIEW" | tr '\n' ' ' | sed 's/ $//')"
    echo "SPECTRUM-BENCH-INFO dir=$dir nsmall=$nsmall ncreate=$ncreate reps=$reps big=$(stat -c %s "$D/big")"
    r=1
    while [ "$r" -le "$reps" ]; do
        # Sequential read of the big file, 1 MiB requests, cold then warm (with cache=never the
        # guest keeps no pages, so "warm" differs only by the guest's dentry/inode and the host).
        cold; now; s=$t
        dd if="$D/big" of=/dev/null bs=1048576 2>/dev/null || { fail "seqread"; return; }
        report seqread_cold "$r" "$s"
        now; s=$t
        dd if="$D/big" of=/dev/null bs=1048576 2>/dev/null || { fail "seqread"; return; }
        report seqread_warm "$r" "$s"

        # stat each small file by name, without listing the directory first (one process, N lstat).
        cd "$D/small" || { fail "cd $D/small"; return; }
        cold; now; s=$t
        # shellcheck disable=SC2086 # names is a word list on purpose
        stat -c '' $names >/dev/null || { fail "stat cold"; return; }
        report stat_cold "$r" "$s"
        now; s=$t
        # shellcheck disable=SC2086
        stat -c '' $names >/dev/null || { fail "stat warm"; return; }
        report stat_warm "$r" "$s"

        # readdir alone: the shell's glob reads the directory and stats nothing.
        cold; now; s=$t
        set -- *
        report readdir_cold "$r" "$s"
        [ "$#" -eq "$nsmall" ] || { fail "readdir saw $# entries, expected $nsmall"; return; }

        # readdir + stat of every entry: what `ls -l` does (-n: no passwd lookups).
        cold; now; s=$t
        ls -ln >/dev/null || { fail "readdir+stat"; return; }
        report readdirstat_cold "$r" "$s"
        cd / || return

        # create + write 4 KiB + close, N times, into a fresh directory; removed untimed.
        c="$D/create.$r"
        rm -rf "$c"
        mkdir "$c" || { fail "mkdir $c"; return; }
        # Relative names from inside it: with cache=never every path component would be looked
        # up again on each create, which is not what is measured here.
        cd "$c" || { fail "cd $c"; return; }
        cold; now; s=$t
        i=1
        while [ "$i" -le "$ncreate" ]; do
            printf '%s' "$blk" >"c$i" || { fail "create $c/c$i"; return; }
            i=$((i + 1))
        done
        report create "$r" "$s"
        [ "$(stat -c %s "c$ncreate")" = 4096 ] || { fail "created file has the wrong size"; return; }
        cd / || return
        rm -rf "$c"
        r=$((r + 1))
    done
    echo "SPECTRUM-CHECK iobench PASS $dir"
}

run
