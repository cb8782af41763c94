#!/usr/bin/env bash
# The PrimeInterop kernel rig: boots a QEMU guest with vgem (and, on kernel A, vkms) and runs one command
# inside it, in a chroot of this machine's own root filesystem (shared read-only over 9p), from the current
# directory. Results come back through a writable 9p share.
#
#   rig.sh prereqs                 install (as root with apt) or name the missing packages
#   rig.sh kernel a|b              build or fetch the kernel (cached under ~/.cache/primeinterop); prints its dir
#   rig.sh run a|b OUTDIR -- CMD…  boot kernel a or b and run CMD inside; OUTDIR receives exit-code, uname,
#                                  serial.log and whatever CMD writes to $RIG_OUT
#
# Kernel A: Debian's linux-source-6.12 built from tinyconfig + kernel-a.config, everything built in.
# Kernel B: Debian's packaged linux-image-*-amd64 (6.1) with vgem loaded from the unpacked package.
#
# Environment: RIG_TIMEOUT (seconds, default 900), RIG_ACCEL (tcg | kvm | auto; default tcg — KVM is used only
# when asked for and a probe boot proves that it works), RIG_CACHE (default ~/.cache/primeinterop), RIG_QUIET=1
# (do not stream the guest console).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${RIG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/primeinterop}"
packages=(qemu-system-x86 busybox-static cpio kmod linux-source-6.12 flex bison bc libelf-dev libssl-dev gcc make xz-utils
          weston wayland-utils libgl1-mesa-dri libegl-mesa0) # weston runs in the guest (GL through Mesa's kms_swrast)

log() { printf 'rig: %s\n' "$*" >&2; }
die() { printf 'rig: error: %s\n' "$*" >&2; exit 2; }

prereqs() {
    local missing=() p
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing ${missing[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    else
        die "missing packages; run: sudo apt-get install ${missing[*]}"
    fi
}

# ---- kernel A: built from Debian's linux-source-6.12 ----
kernel_a() {
    local srcver hash dir tarball
    tarball=$(ls /usr/src/linux-source-6.12.tar.xz 2>/dev/null) || die "no /usr/src/linux-source-6.12.tar.xz; run: $0 prereqs"
    srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
    hash=$(sha256sum < "$here/kernel-a.config" | cut -c1-12)
    dir="$cache/kernel-a-$srcver-$hash"
    if [ -f "$dir/bzImage" ]; then echo "$dir"; return; fi
    log "building kernel A ($srcver, config $hash); this takes about 5 minutes on 2 cores"
    local build="$cache/build-a"
    rm -rf "$build"; mkdir -p "$build"
    tar -xJf "$tarball" -C "$build" --strip-components=1
    local jobs=$(( $(nproc) + 1 ))
    (
        cd "$build"
        make -s tinyconfig >/dev/null
        scripts/kconfig/merge_config.sh -m .config "$here/kernel-a.config" >/dev/null
        make -s olddefconfig >/dev/null
        # merge_config only warns; a fragment option that did not survive olddefconfig is an error here.
        local opt
        grep -E '^CONFIG_[A-Z0-9_]+=y' "$here/kernel-a.config" | while read -r opt; do
            grep -qx "$opt" .config || { echo "rig: kernel A: $opt did not survive olddefconfig" >&2; exit 1; }
        done
        make -s -j"$jobs" bzImage >/dev/null
    ) || die "kernel A build failed (tree kept in $build)"
    mkdir -p "$dir"
    cp "$build/arch/x86/boot/bzImage" "$dir/bzImage"
    cp "$build/.config" "$dir/config"
    rm -rf "$build"
    echo "$dir"
}

# ---- kernel B: Debian's packaged 6.1 kernel, vgem and 9p as modules ----
kernel_b() {
    local pkg dir
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    [ -n "$pkg" ] || { apt-get update -qq >&2 || true; pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'); }
    [ -n "$pkg" ] || die "cannot find Debian's linux-image-*-amd64 package (apt-cache depends linux-image-amd64)"
    dir="$cache/kernel-b-$pkg"
    if [ -f "$dir/vmlinuz" ] && [ -f "$dir/modules.cpio" ]; then echo "$dir"; return; fi
    log "fetching kernel B ($pkg)"
    local tmp; tmp=$(mktemp -d); chmod 755 "$tmp" # readable by apt's _apt user
    (cd "$tmp" && apt-get download -qq "$pkg" >&2) || die "apt-get download $pkg failed"
    dpkg-deb -x "$tmp"/*.deb "$tmp/root"
    local ver; ver=$(ls "$tmp/root/lib/modules")
    depmod -b "$tmp/root" "$ver"
    # The modules the guest needs, in load order, decompressed (busybox insmod reads plain .ko files).
    mkdir -p "$tmp/initrd/modules"
    : > "$tmp/initrd/modules.list"
    local m line path base
    for m in virtio_pci 9pnet_virtio 9p vgem; do
        modprobe -d "$tmp/root" -S "$ver" --show-depends "$m" | while read -r line; do
            case "$line" in insmod*) ;; *) continue ;; esac
            path=$(echo "$line" | awk '{print $2}')
            base=$(basename "$path"); base=${base%.xz}; base=${base%.zst}
            grep -qx "$base" "$tmp/initrd/modules.list" && continue
            case "$path" in
                *.xz) xz -dc "$path" > "$tmp/initrd/modules/$base" ;;
                *.zst) zstd -qdc "$path" > "$tmp/initrd/modules/$base" ;;
                *) cp "$path" "$tmp/initrd/modules/$base" ;;
            esac
            echo "$base" >> "$tmp/initrd/modules.list"
        done
    done
    mkdir -p "$dir"
    (cd "$tmp/initrd" && find . | cpio -o -H newc --quiet) > "$dir/modules.cpio"
    cp "$tmp/root/boot/vmlinuz-$ver" "$dir/vmlinuz"
    rm -rf "$tmp"
    echo "$dir"
}

# ---- initramfs: busybox + /init (+ kernel B's modules) ----
initramfs() {
    local kernel=$1 kdir=$2 out=$3 tmp
    tmp=$(mktemp -d)
    mkdir -p "$tmp/bin" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/host"
    cp /bin/busybox "$tmp/bin/busybox"
    cp "$here/init.sh" "$tmp/init"; chmod +x "$tmp/init"
    printf '%s\n' "$PWD" > "$tmp/workdir"
    if [ "$kernel" = b ]; then (cd "$tmp" && cpio -id --quiet < "$kdir/modules.cpio"); fi
    (cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
    rm -rf "$tmp"
}

kvm_works() {
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
    local kdir=$1 kimg=$2 probe; probe=$(mktemp -d)
    printf '#!/bin/busybox sh\n/bin/busybox poweroff -f\n' > "$probe/init"; chmod +x "$probe/init"
    mkdir -p "$probe/bin"; cp /bin/busybox "$probe/bin/"
    (cd "$probe" && find . | cpio -o -H newc --quiet | gzip -1) > "$probe.cpio.gz"
    local ok=1
    timeout 30 qemu-system-x86_64 -accel kvm -cpu host -m 512 -display none -monitor none -serial null -no-reboot \
        -kernel "$kdir/$kimg" -initrd "$probe.cpio.gz" -append "console=ttyS0 panic=-1" >/dev/null 2>&1 && ok=0
    rm -rf "$probe" "$probe.cpio.gz"
    return $ok
}

run() {
    local kernel=$1 out=$2; shift 2
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "usage: rig.sh run a|b OUTDIR -- CMD…"
    command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found; run: $0 prereqs"
    local kdir kimg
    case "$kernel" in
        a) kdir=$(kernel_a); kimg=bzImage ;;
        b) kdir=$(kernel_b); kimg=vmlinuz ;;
        *) die "unknown kernel '$kernel' (a or b)" ;;
    esac
    mkdir -p "$out"; out=$(cd "$out" && pwd)
    rm -f "$out/exit-code" "$out/uname" "$out/serial.log"
    # The command runs in the chroot from this directory, with these variables.
    {
        echo "#!/bin/sh"
        echo "export HOME=/root PATH='$PATH' DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1"
        echo "export RIG_OUT=/tmp/rig-out PRIMEINTEROP_RIG=1 PRIMEINTEROP_RIG_KERNEL=$kernel"
        [ "$kernel" = b ] && echo "export PRIMEINTEROP_RIG_LACKS='vkms udmabuf dma-heap sw_sync fault-injection'"
        local v; for v in ${RIG_PASS_ENV:-}; do printf 'export %s=%q\n' "$v" "${!v:-}"; done
        printf 'cd %q || exit 125\n' "$PWD"
        printf '%q ' "$@"; echo
    } > "$out/cmd.sh"
    local initrd; initrd=$(mktemp --suffix=.cpio.gz)
    initramfs "$kernel" "$kdir" "$initrd"

    local accel=(-accel tcg -cpu max) mode=${RIG_ACCEL:-tcg}
    if [ "$mode" = kvm ] || [ "$mode" = auto ]; then
        if kvm_works "$kdir" "$kimg"; then accel=(-accel kvm -cpu host); log "KVM works here; using it"
        else log "KVM asked for but a probe boot did not finish; using TCG"; fi
    fi
    local timeout=${RIG_TIMEOUT:-900} start=$SECONDS rc=0
    log "booting kernel $kernel ($kdir/$kimg), ${accel[1]}, timeout ${timeout}s"
    : > "$out/serial.log"
    if [ "${RIG_QUIET:-0}" != 1 ]; then tail -n +1 -f "$out/serial.log" & fi
    local tailpid=${!:-}
    timeout --foreground -k 10 "$timeout" qemu-system-x86_64 "${accel[@]}" -m 2048 -smp 2 \
        -display none -monitor none -serial "file:$out/serial.log" -no-reboot \
        -kernel "$kdir/$kimg" -initrd "$initrd" \
        -append "console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init" \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -virtfs "local,path=$out,mount_tag=rigout,security_model=none,multidevs=remap" || rc=$?
    sleep 0.2; [ -n "$tailpid" ] && kill "$tailpid" 2>/dev/null; wait "$tailpid" 2>/dev/null || true
    rm -f "$initrd"
    local took=$((SECONDS - start))
    if [ ! -f "$out/exit-code" ]; then
        [ $rc = 124 ] && log "the guest hit the ${timeout}s timeout" || log "the guest stopped without a result (qemu exit $rc)"
        log "last lines of the guest console ($out/serial.log):"
        tail -n 40 "$out/serial.log" | sed 's/^/  | /' >&2
        exit 3
    fi
    log "kernel $(cat "$out/uname" 2>/dev/null) booted in $(cat "$out/boot-seconds" 2>/dev/null || echo ?)s (guest uptime at /init end); run took ${took}s wall"
    return "$(cat "$out/exit-code")"
}

case "${1:-}" in
    prereqs) prereqs ;;
    kernel) shift; case "${1:-}" in a) kernel_a ;; b) kernel_b ;; *) die "usage: rig.sh kernel a|b" ;; esac ;;
    run) shift; [ $# -ge 2 ] || die "usage: rig.sh run a|b OUTDIR -- CMD…"; run "$@" ;;
    *) die "usage: rig.sh prereqs | kernel a|b | run a|b OUTDIR -- CMD…" ;;
esac
