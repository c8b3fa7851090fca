# The host puts hello.txt ("hello from host") and sub/nested.txt ("nested") in the shared
# directory; the guest lists and reads them, and writes guest.txt back.
pass() { echo "SPECTRUM-CHECK $1 PASS $2"; }
fail() { echo "SPECTRUM-CHECK $1 FAIL $2"; }
expect() { if [ "$2" = "$3" ]; then pass "$1" "$3"; else fail "$1" "expected '$2' got '$3'"; fi; }

expect list "hello.txt sub" "$(ls "$VIEW" | tr '\n' ' ' | sed 's/ $//')"
expect read "hello from host" "$(cat "$VIEW/hello.txt" 2>&1)"
expect read-nested "nested" "$(cat "$VIEW/sub/nested.txt" 2>&1)"
if out="$(echo "written by guest" 2>&1 >"$VIEW/guest.txt")"; then pass write guest.txt; else fail write "$out"; fi
expect readback "written by guest" "$(cat "$VIEW/guest.txt" 2>&1)"
