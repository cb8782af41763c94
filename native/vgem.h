/* Shared by the native helpers: find vgem's node of one type by asking each node's driver name; vgem's and
 * sw_sync's ioctls; the clock and the exit-on-error check of the benchmarks. Include after _GNU_SOURCE. */
#ifndef PRIMEINTEROP_VGEM_H
#define PRIMEINTEROP_VGEM_H
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>

/* vgem's fence ioctls (include/uapi/drm/vgem_drm.h, which libdrm-dev does not ship): attach an unsignalled
 * fence to a buffer, signal it later. vgem signals a forgotten fence by itself after 10 seconds. */
#ifndef DRM_VGEM_FENCE_ATTACH
#define DRM_VGEM_FENCE_ATTACH 0x1
#define DRM_VGEM_FENCE_SIGNAL 0x2
#define DRM_IOCTL_VGEM_FENCE_ATTACH DRM_IOWR(DRM_COMMAND_BASE + DRM_VGEM_FENCE_ATTACH, struct drm_vgem_fence_attach)
#define DRM_IOCTL_VGEM_FENCE_SIGNAL DRM_IOW(DRM_COMMAND_BASE + DRM_VGEM_FENCE_SIGNAL, struct drm_vgem_fence_signal)
struct drm_vgem_fence_attach {
    __u32 handle;
    __u32 flags;
#define VGEM_FENCE_WRITE 0x1
    __u32 out_fence;
    __u32 pad;
};
struct drm_vgem_fence_signal {
    __u32 fence;
    __u32 flags;
};
#endif

/* sw_sync's debugfs interface (drivers/dma-buf/sw_sync.c: not in any uapi header, so copied from there). */
struct sw_sync_create_fence_data {
    __u32 value;
    char name[32];
    __s32 fence;
};
#define SW_SYNC_IOC_MAGIC 'W'
#define SW_SYNC_IOC_CREATE_FENCE _IOWR(SW_SYNC_IOC_MAGIC, 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC _IOW(SW_SYNC_IOC_MAGIC, 1, __u32)

/* The first node of `type` ("card" or "renderD") whose driver is vgem; exits with status 2 if there is none. */
static inline int open_vgem(const char *type)
{
    char path[64];
    for (int minor = 0; minor < 256; minor++) {
        snprintf(path, sizeof path, "/dev/dri/%s%d", type, minor);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            continue;
        drmVersionPtr v = drmGetVersion(fd);
        int match = v && strcmp(v->name, "vgem") == 0;
        drmFreeVersion(v);
        if (match)
            return fd;
        close(fd);
    }
    fprintf(stderr, "no vgem %s node (sudo modprobe vgem, or run in the rig)\n", type);
    exit(2);
}

/* Monotonic time in nanoseconds. */
static inline double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

/* Exits with status 2, naming the program, the call and errno, when r is not 0. */
static inline void check(int r, const char *what)
{
    if (r) {
        fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, strerror(errno));
        exit(2);
    }
}

#endif
