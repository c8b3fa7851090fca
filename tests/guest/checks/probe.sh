# Reports what the guest sees, one line each, for the host to assert:
#   SPECTRUM-LS <path>                   every entry under the view, sorted
#   SPECTRUM-CAT <path> <first line>     every regular file
#   SPECTRUM-WRITE <path> OK|FAIL <err>  appending a line to each path of spectrum.write=a,b
#   SPECTRUM-CREATE <path> OK|FAIL <err> creating each path of spectrum.create=a,b
# where <err> is the error text alone ("Permission denied"), without the shell's prefix.
# Then idles when spectrum.idle=1, so that the host can stop or kill it.
cd "$VIEW" || exit 0
find . -mindepth 1 | sort | while read -r p; do echo "SPECTRUM-LS ${p#./}"; done
find . -type f | sort | while read -r p; do echo "SPECTRUM-CAT ${p#./} $(head -n 1 "$p" 2>&1)"; done
for p in $(echo "${SPECTRUM_WRITE:-}" | tr ',' ' '); do
    if out="$( (echo "written by guest" >>"$p") 2>&1)"; then echo "SPECTRUM-WRITE $p OK"; else echo "SPECTRUM-WRITE $p FAIL ${out##*: }"; fi
done
for p in $(echo "${SPECTRUM_CREATE:-}" | tr ',' ' '); do
    if out="$( (echo "created by guest" >"$p") 2>&1)"; then echo "SPECTRUM-CREATE $p OK"; else echo "SPECTRUM-CREATE $p FAIL ${out##*: }"; fi
done
sync
echo "SPECTRUM-PROBED"
[ "${SPECTRUM_IDLE:-}" = 1 ] && . /checks/idle.sh
