/* Test helper for the signal-storm tests, loaded into the test process (libsignal-helper.so):
 *  - a SIGURG/real-time handler installed WITHOUT SA_RESTART, so that a signal arriving while a thread sleeps in
 *    an interruptible syscall makes that syscall fail with EINTR (the handler itself only counts);
 *  - tgkill/gettid, which .NET does not expose;
 *  - vgem's fence ioctls (include/uapi/drm/vgem_drm.h, not shipped by libdrm), to make DMA_BUF_IOCTL_SYNC sleep;
 *  - one raw DMA_BUF_IOCTL_SYNC with no retry, to show what the kernel itself returns. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <drm.h>
#include <linux/dma-buf.h>

struct drm_vgem_fence_attach { __u32 handle; __u32 flags; __u32 out_fence; __u32 pad; };
struct drm_vgem_fence_signal { __u32 fence; __u32 flags; };
#define VGEM_FENCE_WRITE 0x1
#define DRM_IOCTL_VGEM_FENCE_ATTACH DRM_IOWR(DRM_COMMAND_BASE + 0x1, struct drm_vgem_fence_attach)
#define DRM_IOCTL_VGEM_FENCE_SIGNAL DRM_IOW(DRM_COMMAND_BASE + 0x2, struct drm_vgem_fence_signal)

static atomic_long delivered;

static void on_signal(int sig)
{
    (void)sig;
    atomic_fetch_add_explicit(&delivered, 1, memory_order_relaxed);
}

int pi_install_handler(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: interrupted syscalls return EINTR to their caller */
    return sigaction(sig, &sa, NULL) == 0 ? 0 : errno;
}

int pi_restore_default(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    return sigaction(sig, &sa, NULL) == 0 ? 0 : errno;
}

long pi_delivered(void) { return atomic_load_explicit(&delivered, memory_order_relaxed); }

int pi_gettid(void) { return (int)syscall(SYS_gettid); }

int pi_tgkill(int tgid, int tid, int sig) { return syscall(SYS_tgkill, tgid, tid, sig) == 0 ? 0 : errno; }

/* Attaches an unsignalled write fence to GEM handle `handle` of vgem file `fd` (it signals by itself after 10 s). */
int pi_vgem_fence_attach(int fd, unsigned handle, unsigned *fence)
{
    struct drm_vgem_fence_attach arg = { .handle = handle, .flags = VGEM_FENCE_WRITE };
    if (ioctl(fd, DRM_IOCTL_VGEM_FENCE_ATTACH, &arg) != 0)
        return errno;
    *fence = arg.out_fence;
    return 0;
}

int pi_vgem_fence_signal(int fd, unsigned fence)
{
    struct drm_vgem_fence_signal arg = { .fence = fence };
    return ioctl(fd, DRM_IOCTL_VGEM_FENCE_SIGNAL, &arg) == 0 ? 0 : errno;
}

/* One DMA_BUF_IOCTL_SYNC START|READ, not retried: 0 or the errno the kernel gave. */
int pi_raw_sync_start_read(int dmabuf)
{
    struct dma_buf_sync arg = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ };
    return ioctl(dmabuf, DMA_BUF_IOCTL_SYNC, &arg) == 0 ? 0 : errno;
}

int pi_raw_sync_end_read(int dmabuf)
{
    struct dma_buf_sync arg = { .flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ };
    return ioctl(dmabuf, DMA_BUF_IOCTL_SYNC, &arg) == 0 ? 0 : errno;
}
