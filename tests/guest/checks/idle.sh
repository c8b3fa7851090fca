# Waits for the ACPI power button (QMP system_powerdown, Cloud Hypervisor's vm.power-button):
# the graceful half of `spectrum-vm stop`. Sourced by other checks that end idle.
for d in /sys/class/input/event*; do
    if [ "$(cat "$d/device/name" 2>/dev/null)" = "Power Button" ]; then
        # devtmpfs creates the node asynchronously after evdev binds.
        ev="/dev/input/$(basename "$d")"
        while [ ! -c "$ev" ]; do sleep 0.05; done
        # Open it before saying so: evdev queues events only for clients that have it open, so a
        # press sent as soon as the host reads the marker must not land before the read starts.
        exec 3<"$ev"
        echo "SPECTRUM-IDLE waiting on $ev"
        # evdev returns whole 24-byte events; a failed read is not a press.
        while [ "$(dd bs=64 count=1 <&3 2>/dev/null | wc -c)" -eq 0 ]; do sleep 0.1; done
        exec 3<&-
        echo "SPECTRUM-POWERBUTTON"
    fi
done
