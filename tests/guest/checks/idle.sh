# Waits for the ACPI power button (QMP system_powerdown, Cloud Hypervisor's vm.power-button):
# the graceful half of `spectrum-vm stop`. Sourced by other checks that end idle.
for d in /sys/class/input/event*; do
    if [ "$(cat "$d/device/name" 2>/dev/null)" = "Power Button" ]; then
        # devtmpfs creates the node asynchronously after evdev binds.
        ev="/dev/input/$(basename "$d")"
        while [ ! -c "$ev" ]; do sleep 0.05; done
        echo "SPECTRUM-IDLE waiting on $ev"
        # evdev returns whole 24-byte events; a failed read is not a press.
        while [ "$(dd if="$ev" bs=64 count=1 2>/dev/null | wc -c)" -eq 0 ]; do sleep 0.1; done
        echo "SPECTRUM-POWERBUTTON"
    fi
done
