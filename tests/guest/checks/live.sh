# Grants and revokes while the guest runs. Waits for spectrum.wait=<path> to appear in the view,
# holds it open, then waits until it can no longer be read, and tries the open handle:
#   SPECTRUM-WAITING <path>            the host may grant now
#   SPECTRUM-APPEARED <path> <line>    it appeared, with its first line; the host may revoke now
#   SPECTRUM-VANISHED <path> <err>     a fresh read fails after the revoke
#   SPECTRUM-HANDLE OK|FAIL <out>      reading the handle opened before the revoke
p="${SPECTRUM_WAIT:?spectrum.wait=PATH is required}"
cd "$VIEW" || exit 0
echo "SPECTRUM-WAITING $p"
i=0
until [ -e "$p" ]; do
    i=$((i + 1)); [ "$i" -gt 1200 ] && { echo "SPECTRUM-CHECK live FAIL $p never appeared"; exit 0; }
    sleep 0.05
done
exec 3<"$p"
echo "SPECTRUM-APPEARED $p $(head -n 1 "$p" 2>&1)"
i=0
while head -n 1 "$p" >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -gt 1200 ] && { echo "SPECTRUM-CHECK live FAIL $p never vanished"; exit 0; }
    sleep 0.05
done
echo "SPECTRUM-VANISHED $p $(head -n 1 "$p" 2>&1)"
if out="$(head -c 64 <&3 2>&1)"; then echo "SPECTRUM-HANDLE OK $out"; else echo "SPECTRUM-HANDLE FAIL $out"; fi
exec 3<&-
