#!/usr/bin/env bash
# Builds the tiny test guest from Debian packages alone: the cloud kernel (dpkg -x) and its
# virtio/fuse/virtiofs modules, busybox-static, and an initramfs whose /init mounts the view at
# /run/virtiofs/virtiofs0 and runs one check baked into the initramfs (never code from the view).
#
# Usage: build-guest.sh [OUT_DIR]   (default /var/tmp/spectrum-guest)
# Output: OUT_DIR/vmlinuz, OUT_DIR/initramfs.img, OUT_DIR/disk.img (1 MiB of zeros: the example
# policies attach it read-only to show the disks key), OUT_DIR/kernel-version.
# Idempotent: the output is reused while the kernel version and the inputs (init, checks, this
# script) hash to the same stamp; otherwise it is rebuilt. Needs: apt-get, dpkg, cpio, gzip, xz.
set -euo pipefail

out="${1:-/var/tmp/spectrum-guest}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
arch="$(dpkg --print-architecture)"
[[ "$arch" == amd64 ]] || { echo "build-guest.sh: only amd64 guests are built here (host is $arch)" >&2; exit 2; }

# Load order matters: each needs the ones before it. The kernel config symbol of each says whether
# this kernel builds it in (=y: skip), as a module (=m: copy and insmod) or not at all (error).
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci fuse virtiofs
         virtio_console button evdev)
declare -A symbol=([virtio_ring]=VIRTIO [virtio]=VIRTIO [virtio_pci_modern_dev]=VIRTIO_PCI_LIB
    [virtio_pci_legacy_dev]=VIRTIO_PCI_LIB_LEGACY [virtio_pci]=VIRTIO_PCI [fuse]=FUSE_FS
    [virtiofs]=VIRTIO_FS [virtio_console]=VIRTIO_CONSOLE [button]=ACPI_BUTTON [evdev]=INPUT_EVDEV)

# The meta package depends on the real, versioned image package; resolve it from the local index.
meta="linux-image-cloud-$arch"
resolve() { apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
pkg="$(resolve)"
if [[ -z "$pkg" && "$(id -u)" == 0 ]]; then
    # A fresh machine may have no package lists yet.
    apt-get update -qq >/dev/null 2>&1 || true
    pkg="$(resolve)"
fi
if [[ -z "$pkg" ]]; then
    echo "build-guest.sh: cannot resolve $meta; run 'apt-get update' first" >&2
    exit 2
fi

# Test projects run in parallel and may both ask for the guest: one builds, the other waits.
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

stamp="$(cat "$0" "$here/init" "$here"/checks/*.sh | sha256sum | cut -c1-16)-$pkg"
if [[ -f "$out/stamp" && "$(cat "$out/stamp")" == "$stamp" && -f "$out/vmlinuz" && -f "$out/initramfs.img" && -f "$out/disk.img" ]]; then
    echo "$out"
    exit 0
fi

mkdir -p "$out"
work="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

(cd "$work" && apt-get download "$pkg" busybox-static >/dev/null 2>"$work/apt.err") || {
    cat "$work/apt.err" >&2
    echo "build-guest.sh: apt-get download failed; run 'apt-get update' first" >&2
    exit 2
}
dpkg -x "$work"/linux-image-*.deb "$work/kernel"
dpkg -x "$work"/busybox-static_*.deb "$work/busybox"

kver="$(basename "$(ls -d "$work"/kernel/lib/modules/*/)")"
config="$work/kernel/boot/config-$kver"
root="$work/root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run/virtiofs/virtiofs0,lib/modules,checks,etc}
install -m 0755 "$work/busybox/bin/busybox" "$root/bin/busybox"
install -m 0755 "$here/init" "$root/init"
install -m 0755 "$here"/checks/*.sh "$root/checks/"

: >"$root/etc/modules-order"
for m in "${modules[@]}"; do
    value="$(sed -n "s/^CONFIG_${symbol[$m]}=//p" "$config")"
    case "$value" in
        y) continue ;;
        m) ;;
        *) echo "build-guest.sh: $kver lacks $m (CONFIG_${symbol[$m]}=${value:-unset})" >&2; exit 2 ;;
    esac
    ko="$(find "$work/kernel/lib/modules/$kver" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \) | head -n1)"
    [[ -n "$ko" ]] || { echo "build-guest.sh: $m.ko missing from $pkg" >&2; exit 2; }
    case "$ko" in
        *.ko.xz) xz -dc "$ko" >"$root/lib/modules/$m.ko" ;;
        *.ko.zst) zstd -qdc "$ko" >"$root/lib/modules/$m.ko" ;;
        *) cp "$ko" "$root/lib/modules/$m.ko" ;;
    esac
    echo "$m" >>"$root/etc/modules-order"
done

(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null --create --format=newc --owner=0:0 --quiet) \
    | gzip -9n >"$work/initramfs.img"
install -m 0644 "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"
install -m 0644 "$work/initramfs.img" "$out/initramfs.img"
truncate -s 1M "$work/disk.img" && install -m 0644 "$work/disk.img" "$out/disk.img"
echo "$kver" >"$out/kernel-version"
echo "$stamp" >"$out/stamp"
echo "$out"
