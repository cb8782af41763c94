#!/usr/bin/env bash
# The PrimeInterop kernel rig: boots a QEMU guest with vgem (and, on kernel A, vkms) and runs one command
# inside it, in a chroot of this machine's own root filesystem (shared read-only over 9p), from the current
# directory. Results come back through a writable 9p share.
#
#   rig.sh prereqs                 install (as root, with apt) or name everything the build, the tests and the
#                                  demo need but the .NET SDK: C and NativeAOT toolchains, libdrm, QEMU, weston,
#                                  and on x86-64 the arm64 emulation (qemu-user, multiarch arm64 libs, cross gcc)
#   rig.sh kernel a|b              build or fetch the kernel (cached under ~/.cache/primeinterop); prints its dir
#   rig.sh run a|b OUTDIR -- CMD…  boot kernel a or b and run CMD inside; OUTDIR receives exit-code, uname,
#                                  serial.log and whatever CMD writes to $RIG_OUT
#
# Kernel A: Debian's linux-source-6.12 built from tinyconfig + kernel-a.config, everything built in.
# Kernel B: Debian's packaged linux-image-*-amd64 (6.1) with vgem loaded from the unpacked package.
#
# Environment: RIG_TIMEOUT (seconds, default 900), RIG_ACCEL (tcg | kvm | auto; default tcg — KVM is used only
# when asked for and a probe boot proves that it works), RIG_CACHE (default ~/.cache/primeinterop), RIG_QUIET=1
# (do not stream the guest console), RIG_LOCK (a file to flock around the guest's boot and run only, so that
# several checkouts on one machine boot one guest at a time while their builds run side by side), RIG_ICOUNT=N
# (TCG only: the guest clock counts instructions, 2^N ns each, and skips idle time: deterministic timings for
# benchmarks, on one vCPU), RIG_SMP (vCPUs, default 2; build.cake gives 1 to each of two guests run side by side),
# RIG_PLUGIN (a QEMU TCG plugin and its arguments, as -plugin takes them: tests/rig/profile, docs/rig.md).
#
# Exit codes of `run`: the command's own exit code, 2 for a usage or setup error, and 3 (RIG_NO_RESULT) when the
# guest produced no result (no boot, a crash, the timeout); build.cake knows 3 by the same name.
set -euo pipefail
# kdir=$(kernel_a) runs kernel_a in a subshell: without this, set -e would be off in there.
shopt -s inherit_errexit
# A step that fails without its own message still says what failed (-E: in functions and subshells too).
set -E
trap 'printf "rig: error: \`%s\` failed (exit %s, rig.sh line %s)\n" "$BASH_COMMAND" "$?" "$LINENO" >&2' ERR

readonly RIG_NO_RESULT=3
# depmod and modprobe live in /sbin, which is not on an unprivileged user's PATH on Debian.
PATH="$PATH:/usr/sbin:/sbin"

# Every temporary file or directory is registered here and removed on any exit: success, error or Ctrl+C.
# Functions that run in a subshell ($(...)) call own_temps first: a subshell does not inherit the EXIT trap.
temps=() tailpid=
cleanup() {
    [ -z "$tailpid" ] || kill "$tailpid" 2>/dev/null || true
    [ ${#temps[@]} -eq 0 ] || rm -rf "${temps[@]}"
}
own_temps() { temps=(); trap cleanup EXIT; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# maketemp VAR [mktemp options]: VAR=$(mktemp …), registered for cleanup.
maketemp() { local t; t=$(mktemp "${@:2}"); temps+=("$t"); printf -v "$1" '%s' "$t"; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${RIG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/primeinterop}"
# Everything the README's two commands need besides the .NET SDK: the native helpers (gcc, make, libdrm through
# pkg-config), NativeAOT (clang), the rig (QEMU, busybox, kernel A's build tools) and weston in the guest (GL through
# Mesa's kms_swrast).
packages=(gcc make pkg-config libdrm-dev clang
          qemu-system-x86 busybox-static cpio kmod linux-source-6.12 flex bison bc libelf-dev libssl-dev xz-utils
          weston wayland-utils libgl1-mesa-dri libegl-mesa0)
# The commands the build and the rig run, and the package each comes from: a package can be installed and its command
# still not found (an unprivileged user's PATH, a half-removed package).
tools=(gcc:gcc cc:gcc make:make pkg-config:pkg-config clang:clang
    qemu-system-x86_64:qemu-system-x86 busybox:busybox-static cpio:cpio depmod:kmod modprobe:kmod
    flex:flex bison:bison bc:bc xz:xz-utils gzip:gzip apt-get:apt dpkg-deb:dpkg weston:weston wayland-info:wayland-utils)

# ---- arm64: the host tests on aarch64 under user-mode emulation (build.cake's host-arm64), on x86-64 machines ----
# qemu's user-mode emulator, Debian's multiarch arm64 libraries for the self-contained linux-arm64 .NET runtime (libssl
# and zlib: its crypto and Mono.Posix's helper load them), and the aarch64 cross compiler with arm64 libc and kernel
# headers for the layout probe (libdrm's headers are the same on every architecture).
arm64_packages=() arm64_checks=()
if [ "$(uname -m)" = x86_64 ]; then
    arm64_packages=(qemu-user-static gcc-aarch64-linux-gnu libc6-dev-arm64-cross linux-libc-dev-arm64-cross
                    libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64 libssl3:arm64 zlib1g:arm64)
    # A command or file each of them must leave behind, and the package (a file name never has a colon; a package may).
    arm64_checks=(qemu-aarch64-static:qemu-user-static aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu
        /usr/aarch64-linux-gnu/include/stdio.h:libc6-dev-arm64-cross
        /usr/aarch64-linux-gnu/include/linux/udmabuf.h:linux-libc-dev-arm64-cross
        /lib/ld-linux-aarch64.so.1:libc6:arm64 /usr/lib/aarch64-linux-gnu/libstdc++.so.6:libstdc++6:arm64
        /usr/lib/aarch64-linux-gnu/libgcc_s.so.1:libgcc-s1:arm64 /usr/lib/aarch64-linux-gnu/libssl.so.3:libssl3:arm64
        /usr/lib/aarch64-linux-gnu/libz.so.1:zlib1g:arm64)
fi
# dpkg installs :arm64 packages only once arm64 is one of its architectures.
arm64_known() { dpkg --print-foreign-architectures 2>/dev/null | grep -qx arm64; }

log() { printf 'rig: %s\n' "$*" >&2; }
die() { printf 'rig: error: %s\n' "$*" >&2; exit 2; }

prereqs() {
    local missing=() p t
    if command -v dpkg-query >/dev/null; then
        for p in "${packages[@]}" "${arm64_packages[@]}"; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
        done
    fi
    if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        if printf '%s\n' "${missing[@]}" | grep -q ':arm64$' && ! arm64_known; then
            log "adding arm64 to dpkg's architectures (multiarch)"
            dpkg --add-architecture arm64
        fi
        log "installing ${missing[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
        missing=()
    fi
    for t in "${tools[@]}"; do
        command -v "${t%%:*}" >/dev/null || { log "command not found: ${t%%:*} (package ${t#*:})"; missing+=("${t#*:}"); }
    done
    command -v pkg-config >/dev/null && ! pkg-config --exists libdrm && { log "libdrm's headers not found by pkg-config (package libdrm-dev)"; missing+=(libdrm-dev); }
    command -v dotnet >/dev/null || log "dotnet not found: install the .NET 10 SDK (https://learn.microsoft.com/dotnet/core/install/linux-debian); it is not a Debian package"
    [ -x /bin/busybox ] || { log "/bin/busybox not found (the guest's shell; package busybox-static)"; missing+=(busybox-static); }
    [ -f /usr/src/linux-source-6.12.tar.xz ] || { log "/usr/src/linux-source-6.12.tar.xz not found (kernel A's source)"; missing+=(linux-source-6.12); }
    for t in "${arm64_checks[@]}"; do
        case "${t%%:*}" in
            /*) [ -e "${t%%:*}" ] || { log "${t%%:*} not found (arm64 host tests; package ${t#*:})"; missing+=("${t#*:}"); } ;;
            *) command -v "${t%%:*}" >/dev/null || { log "command not found: ${t%%:*} (arm64 host tests; package ${t#*:})"; missing+=("${t#*:}"); } ;;
        esac
    done
    if [ ${#missing[@]} -gt 0 ]; then
        local multiarch=
        printf '%s\n' "${missing[@]}" | grep -q ':arm64$' && ! arm64_known && multiarch="sudo dpkg --add-architecture arm64 && sudo apt-get update && "
        die "missing prerequisites; run: ${multiarch}sudo apt-get install $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
    fi
    mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || die "the kernel cache $cache is not writable (set RIG_CACHE)"
}

# build_lock: holds $cache/.build.lock (flock) until the calling subshell exits, so that one kernel A build or kernel
# B fetch runs at a time per cache, whatever checkout started it: a second `rig.sh kernel a` would otherwise remove
# the build tree under the first. Separate from RIG_LOCK, which only serializes guests. The caller looks for the
# cached kernel again once it holds the lock: the build it waited for has usually made it.
build_lock() {
    local lock="$cache/.build.lock" fd
    mkdir -p "$cache"
    exec {fd}>>"$lock"
    flock -n "$fd" || { log "waiting for $lock (another kernel build or fetch is running)"; flock "$fd"; }
}

# pack_cpio DIR: DIR's contents as a newc cpio archive on stdout (the format the kernel unpacks as an initramfs).
pack_cpio() { (cd "$1" && find . | cpio -o -H newc --quiet); }

# ---- kernel A: built from Debian's linux-source-6.12 ----
kernel_a() {
    local srcver hash dir tarball
    tarball=$(ls /usr/src/linux-source-6.12.tar.xz 2>/dev/null) || die "no /usr/src/linux-source-6.12.tar.xz; run: $0 prereqs"
    srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
    hash=$(sha256sum < "$here/kernel-a.config" | cut -c1-12)
    dir="$cache/kernel-a-$srcver-$hash"
    if [ -f "$dir/bzImage" ]; then echo "$dir"; return; fi
    build_lock
    if [ -f "$dir/bzImage" ]; then log "kernel A was built meanwhile"; echo "$dir"; return; fi
    log "building kernel A ($srcver, config $hash); this takes about 5 minutes on 2 cores"
    local build="$cache/build-a"
    rm -rf "$build"; mkdir -p "$build"
    # The tree is 1.5 GB: it goes on any failure too; the .config that failed is kept for a look.
    own_temps; temps+=("$build")
    tar -xJf "$tarball" -C "$build" --strip-components=1 || die "kernel A: cannot unpack $tarball"
    local jobs=$(( $(nproc) + 1 )) failed="$cache/kernel-a-failed.config"
    # Each step on its own: a `( … ) || die` around all of them would turn set -e off inside and swallow failures.
    make -s -C "$build" tinyconfig >/dev/null || die "kernel A: make tinyconfig failed"
    (cd "$build" && scripts/kconfig/merge_config.sh -m .config "$here/kernel-a.config" >/dev/null) \
        || { cp "$build/.config" "$failed" 2>/dev/null; die "kernel A: merge_config.sh with kernel-a.config failed"; }
    make -s -C "$build" olddefconfig >/dev/null || { cp "$build/.config" "$failed" 2>/dev/null; die "kernel A: make olddefconfig failed"; }
    # merge_config only warns; a fragment option that did not survive olddefconfig is an error here.
    local opt lost=()
    while read -r opt; do
        grep -qx "$opt" "$build/.config" || lost+=("$opt")
    done < <(grep -E '^CONFIG_[A-Z0-9_]+=y' "$here/kernel-a.config")
    if [ ${#lost[@]} -gt 0 ]; then
        cp "$build/.config" "$failed"
        die "kernel A: ${lost[*]} did not survive olddefconfig (a missing dependency?); the resulting config is in $failed"
    fi
    make -s -C "$build" -j"$jobs" bzImage >/dev/null || { cp "$build/.config" "$failed"; die "kernel A: make bzImage failed (config in $failed)"; }
    mkdir -p "$dir"
    cp "$build/arch/x86/boot/bzImage" "$dir/bzImage"
    cp "$build/.config" "$dir/config"
    rm -rf "$build"
    echo "$dir"
}

# ---- kernel B: Debian's packaged 6.1 kernel, vgem and 9p as modules ----
kernel_b() {
    local pkg dir
    # apt-cache takes 1-3 s (it builds its cache each time here); its answer changes only with apt's package lists,
    # so it is kept in $cache/kernel-b.package until a list is newer than that file.
    local known="$cache/kernel-b.package" lists=/var/lib/apt/lists
    if [ -s "$known" ] && [ -d "$lists" ] && [ -z "$(find "$lists" -newer "$known" -print -quit 2>/dev/null)" ]; then
        pkg=$(cat "$known")
    else
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
        [ -n "$pkg" ] || { apt-get update -qq >&2 || true; pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'); }
        [ -n "$pkg" ] || die "cannot find Debian's linux-image-*-amd64 package (apt-cache depends linux-image-amd64)"
        { printf '%s\n' "$pkg" > "$known.$$" && mv "$known.$$" "$known"; } 2>/dev/null || rm -f "$known.$$"
    fi
    dir="$cache/kernel-b-$pkg"
    if [ -f "$dir/vmlinuz" ] && [ -f "$dir/modules.cpio" ]; then echo "$dir"; return; fi
    build_lock
    if [ -f "$dir/vmlinuz" ] && [ -f "$dir/modules.cpio" ]; then log "kernel B was fetched meanwhile"; echo "$dir"; return; fi
    log "fetching kernel B ($pkg)"
    own_temps
    local tmp; maketemp tmp -d; chmod 755 "$tmp" # readable by apt's _apt user
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
    temps+=("$dir/modules.cpio.part")
    pack_cpio "$tmp/initrd" > "$dir/modules.cpio.part" && mv "$dir/modules.cpio.part" "$dir/modules.cpio"
    cp "$tmp/root/boot/vmlinuz-$ver" "$dir/vmlinuz"
    rm -rf "$tmp"
    echo "$dir"
}

# ---- initramfs: busybox + /init (+ kernel B's modules) ----
initramfs() {
    local kernel=$1 kdir=$2 out=$3 tmp
    maketemp tmp -d
    mkdir -p "$tmp/bin" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/host"
    cp /bin/busybox "$tmp/bin/busybox"
    cp "$here/init.sh" "$tmp/init"; chmod +x "$tmp/init"
    printf '%s\n' "$PWD" > "$tmp/workdir"
    if [ "$kernel" = b ]; then (cd "$tmp" && cpio -id --quiet < "$kdir/modules.cpio"); fi
    pack_cpio "$tmp" | gzip -1 > "$out"
    rm -rf "$tmp"
}

kvm_works() {
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
    local kdir=$1 kimg=$2 probe; maketemp probe -d; temps+=("$probe.cpio.gz")
    printf '#!/bin/busybox sh\n/bin/busybox poweroff -f\n' > "$probe/init"; chmod +x "$probe/init"
    mkdir -p "$probe/bin"; cp /bin/busybox "$probe/bin/"
    pack_cpio "$probe" | gzip -1 > "$probe.cpio.gz"
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
        [ "$kernel" = b ] && echo "export PRIMEINTEROP_RIG_LACKS='vkms udmabuf dma-heap sw_sync fault-injection SO_PASSPIDFD'"
        local v; for v in ${RIG_PASS_ENV:-}; do printf 'export %s=%q\n' "$v" "${!v:-}"; done
        printf 'cd %q || exit 125\n' "$PWD"
        printf '%q ' "$@"; echo
    } > "$out/cmd.sh"
    local initrd; maketemp initrd --suffix=.cpio.gz
    initramfs "$kernel" "$kdir" "$initrd"

    # -smap: under QEMU 7.2's TCG a user-space hardware exception (a NullReferenceException, even one the program
    # catches) Oopses the guest kernel with SMAP on ("supervisor read access in user mode") and the run hangs.
    local accel=(-accel tcg -cpu max,-smap) mode=${RIG_ACCEL:-tcg} smp=${RIG_SMP:-2} plugin=()
    if [ -n "${RIG_PLUGIN:-}" ]; then plugin=(-plugin "$RIG_PLUGIN"); fi
    [[ $smp =~ ^[1-9][0-9]?$ ]] || die "RIG_SMP must be a number of vCPUs, not '$smp'"
    # RIG_ICOUNT=N: the guest's clock counts instructions (2^N ns each) instead of following the host's, and skips
    # idle time: a benchmark then measures work done, the same in every run, whatever else loads the host. One vCPU:
    # kernel 6.1 hangs bringing up a second one under icount (6.12 does not, but two vCPUs on QEMU's one icount
    # thread made round trips vary by 10 % between rounds, one by 1 %).
    if [ -n "${RIG_ICOUNT:-}" ]; then
        [[ $RIG_ICOUNT =~ ^[0-9]+$ ]] || die "RIG_ICOUNT must be a shift (0-10), not '$RIG_ICOUNT'"
        accel=(-accel tcg,thread=single -cpu max,-smap -icount "shift=$RIG_ICOUNT,sleep=off"); smp=1
    fi
    if [ "$mode" = kvm ] || [ "$mode" = auto ]; then
        if kvm_works "$kdir" "$kimg"; then accel=(-accel kvm -cpu host); log "KVM works here; using it"
        else log "KVM asked for but a probe boot did not finish; using TCG"; fi
    fi
    if [ -n "${RIG_LOCK:-}" ]; then
        [ -e "$RIG_LOCK" ] || : > "$RIG_LOCK"
        local lockfd; exec {lockfd}<"$RIG_LOCK"
        flock -n "$lockfd" || { log "waiting for $RIG_LOCK (another guest is running)"; flock "$lockfd"; }
    fi
    # norandmaps (no address space randomization in the guest): TCG keys its translated code by virtual address too,
    # so with every process mapping libcoreclr, the JIT and the ReadyToRun images at new addresses each dotnet start
    # translated them all again. At fixed addresses a process reuses what the ones before it translated: about half
    # the translation work of a run (QEMU's `info jit` TB count), and a faster process start.
    local append="console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init norandmaps"
    # vkms offers overlay planes only when asked (its enable_overlay parameter; built in on kernel A): a compositor
    # puts a surface on each.
    if [ "$kernel" = a ]; then append+=" vkms.enable_overlay=1"; fi
    local timeout=${RIG_TIMEOUT:-900} start=$SECONDS rc=0
    log "booting kernel $kernel ($kdir/$kimg), ${accel[1]}, timeout ${timeout}s"
    : > "$out/serial.log"
    if [ "${RIG_QUIET:-0}" != 1 ]; then tail -n +1 -f "$out/serial.log" & tailpid=$!; fi
    timeout --foreground -k 10 "$timeout" qemu-system-x86_64 "${accel[@]}" -m 2048 -smp "$smp" \
        -display none -monitor none -serial "file:$out/serial.log" -no-reboot \
        -kernel "$kdir/$kimg" -initrd "$initrd" \
        -append "$append" "${plugin[@]}" \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -virtfs "local,path=$out,mount_tag=rigout,security_model=none,multidevs=remap" || rc=$?
    sleep 0.2; if [ -n "$tailpid" ]; then kill "$tailpid" 2>/dev/null || true; wait "$tailpid" 2>/dev/null || true; tailpid=; fi
    rm -f "$initrd"
    local took=$((SECONDS - start))
    if [ ! -f "$out/exit-code" ]; then
        [ $rc = 124 ] && log "the guest hit the ${timeout}s timeout" || log "the guest stopped without a result (qemu exit $rc)"
        log "last lines of the guest console ($out/serial.log):"
        tail -n 40 "$out/serial.log" | sed 's/^/  | /' >&2
        exit $RIG_NO_RESULT
    fi
    # The CPU time QEMU used (this script's children: QEMU, and the initramfs packing) tells the guest's work apart from
    # waiting for a busy host: on 2 idle cores the wall time is about this or less (two vCPU threads).
    local cpu times_out; maketemp times_out
    times > "$times_out" # a builtin in this shell: in a pipe or $( ) it would count a subshell's children instead
    cpu=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$times_out")
    log "kernel $(cat "$out/uname" 2>/dev/null) booted in $(cat "$out/boot-seconds" 2>/dev/null || echo ?)s, the command ended at $(cat "$out/end-seconds" 2>/dev/null || echo ?)s (guest uptime); run took ${took}s wall, QEMU ${cpu}s CPU"
    exit "$(cat "$out/exit-code")" # the command's own exit code (exit: a failing command is not a rig error)
}

case "${1:-}" in
    prereqs) prereqs ;;
    kernel) shift; case "${1:-}" in a) kernel_a ;; b) kernel_b ;; *) die "usage: rig.sh kernel a|b" ;; esac ;;
    run) shift; [ $# -ge 2 ] || die "usage: rig.sh run a|b OUTDIR -- CMD…"; run "$@" ;;
    *) die "usage: rig.sh prereqs | kernel a|b | run a|b OUTDIR -- CMD…" ;;
esac
