/* prime-bench: the C reference for PrimeInterop's benchmark. The same syscalls as the C# loops, through libdrm:
 *   export:     drmPrimeHandleToFD on vgem's card node, close(fd)
 *   roundtrip:  drmPrimeHandleToFD on card, drmPrimeFDToHandle on render, drmCloseBufferHandle, close(fd)
 *   dup-import: drmPrimeFDToHandle on render of a dma-buf the render file already holds a handle for (the kernel
 *               returns that handle; nothing to close, the first import owns it)
 *   scale-10k:  roundtrip, importing into a second render file that holds 10,000 other live handles
 *   access:     DMA_BUF_IOCTL_SYNC START|RW then END|RW on a dma-buf mapped read/write
 *   fdpass-N:   one message (8 bytes + N dma-buf fds in SCM_RIGHTS) to an echo peer over a UNIX stream socket and
 *               its echo back (received MSG_CMSG_CLOEXEC, the N received fds closed); N = 1 and 4
 *
 * Usage: prime-bench ITERATIONS        prints "<scenario> <ns per op>" per scenario
 *        prime-bench echo SOCKET-PATH  the echo peer: connects, and sends every message back with its fds until EOF
 *        (the C loop forks the same echo loop on a socketpair; the C# benchmark runs it as its peer)
 * Built a second time as libprime-bench.so (-DPRIME_BENCH_LIBRARY): the pb_* loops, which the C# benchmark calls
 * in-process next to its own loops. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/dma-buf.h>
#include <xf86drm.h>
#include "vgem.h"

#define SCALE_HANDLES 10000
#define MAX_FDS 4
/* The loops are exported from libprime-bench.so (the same file, built with -DPRIME_BENCH_LIBRARY). */
#define PB_API __attribute__((visibility("default")))

/* One sendmsg of 8 bytes with n fds; returns 0 or -1 (errno set). */
static int send_fds(int sock, const int *fds, int n)
{
    uint64_t payload = 0x5052494d45424e43ull;
    struct iovec iov = { .iov_base = &payload, .iov_len = sizeof payload };
    union { char buf[CMSG_SPACE(MAX_FDS * sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                          .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(n * sizeof(int));
    memcpy(CMSG_DATA(c), fds, n * sizeof(int));
    ssize_t r;
    do
        r = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r == (ssize_t)sizeof payload ? 0 : -1;
}

/* One recvmsg of 8 bytes with up to MAX_FDS fds into fds; returns their count, 0 on EOF, -1 on error. */
static int recv_fds(int sock, int *fds)
{
    uint64_t payload;
    struct iovec iov = { .iov_base = &payload, .iov_len = sizeof payload };
    union { char buf[CMSG_SPACE(MAX_FDS * sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
    ssize_t r;
    do
        r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return (int)r;
    if (r != (ssize_t)sizeof payload || (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)))
        return -1;
    int n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(fds, CMSG_DATA(c), n * sizeof(int));
        }
    return n;
}

#ifndef PRIME_BENCH_LIBRARY
/* The echo peer: every message goes back with the fds it brought, which are then closed here. */
static int echo_loop(int sock)
{
    int fds[MAX_FDS], n;
    while ((n = recv_fds(sock, fds)) > 0) {
        int r = send_fds(sock, fds, n);
        for (int i = 0; i < n; i++)
            close(fds[i]);
        if (r)
            return 2;
    }
    return n == 0 ? 0 : 2;
}

static int echo_main(const char *path)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    check(s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) < 0, "connect");
    return echo_loop(s);
}
#endif

/* ---- The loops. Each returns ns per op. The program's main runs them on its own devices; the C# benchmark loads
 * this file as libprime-bench.so and calls them in-process on its devices, right before and after its own loop of
 * the same path, so that C and C# are timed seconds apart at most, not a whole round apart. */

PB_API double pb_export(int card, uint32_t handle, long n)
{
    int fd;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        check(drmPrimeHandleToFD(card, handle, DRM_CLOEXEC, &fd), "drmPrimeHandleToFD");
        close(fd);
    }
    return (now_ns() - t0) / n;
}

/* Export on card, import on render (an object render does not hold: a fresh handle), close both. */
PB_API double pb_roundtrip(int card, int render, uint32_t handle, long n)
{
    int fd;
    uint32_t imported;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        check(drmPrimeHandleToFD(card, handle, DRM_CLOEXEC, &fd), "drmPrimeHandleToFD");
        check(drmPrimeFDToHandle(render, fd, &imported), "drmPrimeFDToHandle");
        check(drmCloseBufferHandle(render, imported), "drmCloseBufferHandle");
        close(fd);
    }
    return (now_ns() - t0) / n;
}

/* render already holds `held` for this dma-buf: every import returns it, and there is nothing to close. */
PB_API double pb_dup_import(int render, int dmabuf, uint32_t held, long n)
{
    uint32_t handle;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        check(drmPrimeFDToHandle(render, dmabuf, &handle), "drmPrimeFDToHandle");
        check(handle != held, "dup-import returned another handle");
    }
    return (now_ns() - t0) / n;
}

/* SYNC start/end around CPU access of a mapped dma-buf. */
PB_API double pb_access(int dmabuf, long n)
{
    struct dma_buf_sync start = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW };
    struct dma_buf_sync end = { .flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW };
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        check(drmIoctl(dmabuf, DMA_BUF_IOCTL_SYNC, &start), "DMA_BUF_IOCTL_SYNC start");
        check(drmIoctl(dmabuf, DMA_BUF_IOCTL_SYNC, &end), "DMA_BUF_IOCTL_SYNC end");
    }
    return (now_ns() - t0) / n;
}

/* n messages of `count` fds each to the echo peer at the other end of sock, and back. */
PB_API double pb_fdpass(int sock, const int *fds, int count, long n)
{
    check(count < 1 || count > MAX_FDS, "fd count");
    int got[MAX_FDS];
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        check(send_fds(sock, fds, count), "sendmsg");
        int k = recv_fds(sock, got);
        check(k != count, "recvmsg");
        for (int j = 0; j < k; j++)
            close(got[j]);
    }
    return (now_ns() - t0) / n;
}

#ifndef PRIME_BENCH_LIBRARY
/* pb_fdpass through a forked echo peer. */
static double fdpass(long n, const int *fds, int count)
{
    int sv[2];
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
    pid_t pid = fork();
    check(pid < 0, "fork");
    if (pid == 0) {
        close(sv[0]);
        _exit(echo_loop(sv[1]));
    }
    close(sv[1]);
    double t = pb_fdpass(sv[0], fds, count, n);
    close(sv[0]);
    int status;
    waitpid(pid, &status, 0);
    check(!WIFEXITED(status) || WEXITSTATUS(status) != 0, "echo peer");
    return t;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "echo") == 0)
        return echo_main(argv[2]);

    long n = argc > 1 ? atol(argv[1]) : 10000;
    int card = open_vgem("card"), render = open_vgem("renderD");
    struct drm_mode_create_dumb create = { .width = 64, .height = 64, .bpp = 32 };
    check(drmIoctl(card, DRM_IOCTL_MODE_CREATE_DUMB, &create), "CREATE_DUMB");
    /* Exported read/write first: the exporting file caches the dma-buf of a handle until the handle is closed, so
     * the first export's access mode is every later export's (the C# side does the same, in the same order). */
    int held_fd;
    check(drmPrimeHandleToFD(card, create.handle, DRM_CLOEXEC | DRM_RDWR, &held_fd), "drmPrimeHandleToFD");

    double export = pb_export(card, create.handle, n);
    double roundtrip = pb_roundtrip(card, render, create.handle, n);

    uint32_t held;
    check(drmPrimeFDToHandle(render, held_fd, &held), "drmPrimeFDToHandle");
    double dup_import = pb_dup_import(render, held_fd, held, n);

    void *map = mmap(NULL, create.size, PROT_READ | PROT_WRITE, MAP_SHARED, held_fd, 0);
    check(map == MAP_FAILED, "mmap dma-buf");
    double access = pb_access(held_fd, n);
    munmap(map, create.size);
    check(drmCloseBufferHandle(render, held), "drmCloseBufferHandle");

    /* fd passing: four existing dma-buf fds, sent 1 or 4 at a time. */
    int fds[MAX_FDS];
    for (int i = 0; i < MAX_FDS; i++)
        check(drmPrimeHandleToFD(card, create.handle, DRM_CLOEXEC, &fds[i]), "drmPrimeHandleToFD");
    long messages = n / 4 > 0 ? n / 4 : 1;
    double fd1 = fdpass(messages, fds, 1), fd4 = fdpass(messages, fds, 4);
    for (int i = 0; i < MAX_FDS; i++)
        close(fds[i]);

    /* scale-10k: a second render file holding 10,000 other objects' handles. */
    int fd;
    int scale = open(drmGetDeviceNameFromFd2(render), O_RDWR | O_CLOEXEC);
    check(scale < 0, "open render");
    for (int i = 0; i < SCALE_HANDLES; i++) {
        struct drm_mode_create_dumb small = { .width = 1, .height = 1, .bpp = 32 };
        uint32_t h;
        check(drmIoctl(card, DRM_IOCTL_MODE_CREATE_DUMB, &small), "CREATE_DUMB");
        check(drmPrimeHandleToFD(card, small.handle, DRM_CLOEXEC, &fd), "drmPrimeHandleToFD");
        check(drmPrimeFDToHandle(scale, fd, &h), "drmPrimeFDToHandle");
        close(fd);
        check(drmCloseBufferHandle(card, small.handle), "drmCloseBufferHandle");
    }
    double scale_10k = pb_roundtrip(card, scale, create.handle, n);
    close(scale);

    printf("export %.0f\nroundtrip %.0f\ndup-import %.0f\naccess %.0f\nfdpass-1 %.0f\nfdpass-4 %.0f\nscale-10k %.0f\n",
           export, roundtrip, dup_import, access, fd1, fd4, scale_10k);
    drmCloseBufferHandle(card, create.handle);
    close(held_fd);
    close(render);
    close(card);
    return 0;
}
#endif
