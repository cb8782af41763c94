/* prime-bench: the C reference for PrimeInterop's benchmark. The same ioctls as the C# loop, through libdrm:
 *   export:    drmPrimeHandleToFD on vgem's card node, close(fd)
 *   roundtrip: drmPrimeHandleToFD on card, drmPrimeFDToHandle on render, drmCloseBufferHandle, close(fd)
 * Usage: prime-bench ITERATIONS. Prints "<scenario> <ns per op>" per scenario. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>
#include "vgem.h"

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static void check(int r, const char *what)
{
    if (r) {
        fprintf(stderr, "prime-bench: %s: %s\n", what, strerror(errno));
        exit(2);
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10000;
    int card = open_vgem("card"), render = open_vgem("renderD");
    struct drm_mode_create_dumb create = { .width = 64, .height = 64, .bpp = 32 };
    check(drmIoctl(card, DRM_IOCTL_MODE_CREATE_DUMB, &create), "CREATE_DUMB");

    int fd;
    uint32_t handle;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        check(drmPrimeHandleToFD(card, create.handle, DRM_CLOEXEC, &fd), "drmPrimeHandleToFD");
        close(fd);
    }
    double t1 = now_ns();
    for (long i = 0; i < n; i++) {
        check(drmPrimeHandleToFD(card, create.handle, DRM_CLOEXEC, &fd), "drmPrimeHandleToFD");
        check(drmPrimeFDToHandle(render, fd, &handle), "drmPrimeFDToHandle");
        check(drmCloseBufferHandle(render, handle), "drmCloseBufferHandle");
        close(fd);
    }
    double t2 = now_ns();
    printf("export %.0f\nroundtrip %.0f\n", (t1 - t0) / n, (t2 - t1) / n);
    drmCloseBufferHandle(card, create.handle);
    close(render);
    close(card);
    return 0;
}
