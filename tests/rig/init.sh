#!/bin/busybox sh
# /init of the rig's initramfs: mount the host root read-only, chroot into it and run /tmp/rig-out/cmd.sh.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
if [ -f /modules.list ]; then
    while read -r m; do insmod "/modules/$m" || echo "rig-init: insmod $m failed"; done < /modules.list
fi
h=/host
# The host root is read-only and does not change during a run, so the guest may cache it (cache=loose):
# without that every assembly load is a 9p round trip, and a dotnet process start costs seconds more.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot $h || { echo "rig-init: cannot mount host root"; poweroff -f; }
# A second view of the host root that the tmpfs mounts below do not shadow.
mkdir -p /unshadowed
mount -o bind $h /unshadowed
mount -t tmpfs -o mode=1777 tmpfs $h/tmp
mkdir -p $h/tmp/rig-out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 rigout $h/tmp/rig-out || { echo "rig-init: cannot mount results share"; poweroff -f; }
mount -t proc proc $h/proc
mount -t sysfs sysfs $h/sys
mount -t debugfs debugfs $h/sys/kernel/debug 2>/dev/null
mount -t devtmpfs devtmpfs $h/dev
mkdir -p $h/dev/shm $h/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $h/dev/shm
mount -t devpts devpts $h/dev/pts 2>/dev/null
mount -t tmpfs tmpfs $h/root
mount -t tmpfs tmpfs $h/run 2>/dev/null
mount -t tmpfs tmpfs $h/var/tmp 2>/dev/null
# The working directory (written into this initramfs by rig.sh) may lie under a path shadowed above, such as
# a checkout in /tmp or $HOME: bind it back from the unshadowed view.
w=$(cat /workdir)
case "$w" in
    /tmp|/tmp/*|/root|/root/*|/run|/run/*|/var/tmp|/var/tmp/*)
        mkdir -p "$h$w" && mount -o bind "/unshadowed$w" "$h$w" || echo "rig-init: cannot make $w visible" ;;
esac
uname -r > $h/tmp/rig-out/uname
cut -d' ' -f1 /proc/uptime > $h/tmp/rig-out/boot-seconds
echo "rig-init: kernel $(uname -r), DRM nodes: $(ls /dev/dri 2>/dev/null | tr '\n' ' ')"
[ -d /sys/kernel/debug/failslab ] && echo "rig-init: fault injection: $(ls -d /sys/kernel/debug/fail* | tr '\n' ' ')"
chroot $h /bin/sh /tmp/rig-out/cmd.sh
echo $? > $h/tmp/rig-out/exit-code
cut -d' ' -f1 /proc/uptime > $h/tmp/rig-out/end-seconds
sync
poweroff -f
