/* fence-latency: the C reference for the C# await on a dma-buf's fences. A waiter thread blocks in poll(POLLIN) on
 * a vgem dma-buf carrying an unsignalled write fence; the main thread signals the fence. Each sample is the time
 * from just before DRM_IOCTL_VGEM_FENCE_SIGNAL to the waiter's return from poll.
 * Usage: fence-latency SAMPLES. Prints "median_ns <n>" and "samples <n>". */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>
#include "vgem.h"

static int dmabuf;
static atomic_int armed;
static double woke;

static void *waiter(void *arg)
{
    (void)arg;
    struct pollfd p = { .fd = dmabuf, .events = POLLIN };
    atomic_store(&armed, 1);
    while (poll(&p, 1, -1) < 0 && errno == EINTR)
        ;
    woke = now_ns();
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    int card = open_vgem("card");
    struct drm_mode_create_dumb create = { .width = 16, .height = 16, .bpp = 32 };
    check(drmIoctl(card, DRM_IOCTL_MODE_CREATE_DUMB, &create), "CREATE_DUMB");
    check(drmPrimeHandleToFD(card, create.handle, DRM_CLOEXEC, &dmabuf), "drmPrimeHandleToFD");
    double *samples = calloc(n, sizeof *samples);
    for (int i = 0; i < n; i++) {
        struct drm_vgem_fence_attach attach = { .handle = create.handle, .flags = VGEM_FENCE_WRITE };
        check(drmIoctl(card, DRM_IOCTL_VGEM_FENCE_ATTACH, &attach), "VGEM_FENCE_ATTACH");
        atomic_store(&armed, 0);
        pthread_t t;
        check(pthread_create(&t, NULL, waiter, NULL), "pthread_create");
        while (!atomic_load(&armed))
            ;
        usleep(2000); /* let the waiter enter poll(), as the C# side has registered before it signals */
        struct drm_vgem_fence_signal signal = { .fence = attach.out_fence };
        double t0 = now_ns();
        check(drmIoctl(card, DRM_IOCTL_VGEM_FENCE_SIGNAL, &signal), "VGEM_FENCE_SIGNAL");
        pthread_join(t, NULL);
        samples[i] = woke - t0;
    }
    qsort(samples, n, sizeof *samples, cmp);
    printf("median_ns %.0f\nsamples %d\n", samples[n / 2], n);
    close(dmabuf);
    drmCloseBufferHandle(card, create.handle);
    close(card);
    return 0;
}
