# Asks the host for a file over the portal channel, as the guest-side backend will, then uses
# what it was given. The channel is the virtio-serial port org.spectrum.portal (busybox has no
# udev, so the port is found by its name in sysfs). Kernel command line:
#   spectrum.portal_method=OpenFile|SaveFile   spectrum.portal_name=NAME (SaveFile's current_name)
# OpenFile reads the picked file; SaveFile writes a temporary file next to the picked name and
# renames it over the name, as editors save. Every step is a SPECTRUM-CHECK line.
pass() { echo "SPECTRUM-CHECK $1 PASS $2"; }
fail() { echo "SPECTRUM-CHECK $1 FAIL $2"; }

port=
for d in /sys/class/virtio-ports/*; do
    [ "$(cat "$d/name" 2>/dev/null)" = org.spectrum.portal ] && port="/dev/${d##*/}"
done
if [ -z "$port" ]; then fail portal-port "no virtio-serial port named org.spectrum.portal"; exit 0; fi
pass portal-port "$port"

method="${SPECTRUM_PORTAL_METHOD:-OpenFile}"
case "$method" in
    SaveFile) params="{\"title\":\"Save report\",\"current_name\":\"${SPECTRUM_PORTAL_NAME:-new.txt}\"}" ;;
    *) params='{"title":"Open report"}' ;;
esac
exec 3<>"$port"
echo "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"$method\",\"params\":$params}" >&3
if ! read -r reply <&3; then fail portal-reply "the channel closed without a reply"; exit 0; fi
exec 3<&-
pass portal-reply "$reply"

path="$(echo "$reply" | sed -n 's|.*"uris":\["file://\([^"]*\)".*|\1|p')"
case "$path" in
    "$VIEW"/*) pass portal-uri "$path" ;;
    *) fail portal-uri "no file URI inside $VIEW in the reply"; exit 0 ;;
esac

if [ "$method" = SaveFile ]; then
    tmp="${path%/*}/.${path##*/}.tmp$$"
    if out="$(echo "saved by the guest" 2>&1 >"$tmp")" && out="$(mv "$tmp" "$path" 2>&1)"; then
        pass portal-save "$path"
    else
        fail portal-save "$out"
    fi
fi
if content="$(cat "$path" 2>&1)"; then pass portal-read "$content"; else fail portal-read "$content"; fi
pass portal-list "$(ls -A "${path%/*}" | tr '\n' ' ')"
