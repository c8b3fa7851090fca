# The demo guest of the example policies: shows what this VM was granted, then idles until
# `spectrum-vm stop`. Read it in $RUNTIME/vm/<vm>/serial.log.
echo "SPECTRUM-DEMO this guest's view of the tree:"
(cd "$VIEW" && find . -mindepth 1 | sort | sed 's|^\./|  |')
. /checks/idle.sh
