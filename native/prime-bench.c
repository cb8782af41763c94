/* prime-bench: the C reference for PrimeInterop's benchmark. The same syscalls as the C# loops, through libdrm:
 *   export:     drmPrimeHandleToFD on vgem's card node, close(fd)
 *   roundtrip:  drmPrimeHandleToFD on card, drmPrimeFDToHandle on render, drmCloseBufferHandle, close(fd)
 *   dup-import: drmPrimeFDToHandle on render of a dma-buf the render file already holds a handle for (the kernel
 *               returns that handle; nothing to close, the first import owns it)
 *   scale-10k:  roundtrip, importing into a second render file that holds 10,000 other live handles
 *   access:     DMA_BUF_IOCTL_SYNC START|RW then END|RW on a dma-buf mapped read/write
 *   fdpass-N:   one message (8 bytes + N dma-buf fds in SCM_RIGHTS) to an echo peer over a UNIX stream socket and
 *               its echo back (received MSG_CMSG_CLOEXEC, the N received fds closed); N = 1 and 4
 *   wait-1:     a vgem write fence attached to a buffer, the buffer's dma-buf re-armed in one epoll set
 *               (EPOLLIN|EPOLLONESHOT, EPOLL_CTL_MOD; added once), the fence handed to the signalling peer thread
 *               (a pipe), epoll_wait until the buffer polls readable
 *   wait-1k:    the same for 1,000 buffers at once, the peer signalling their fences in a random order; per wait, and
 *               the time from handing the fences over to the last buffer's event
 *   flip:       a frame of a compositor's steady state on vkms: wait-1's fence wait on one of two vgem buffers
 *               imported into vkms, an atomic commit of that buffer's framebuffer to the primary plane
 *               (drmModeAtomicCommit, NONBLOCK|PAGE_FLIP_EVENT), poll on the DRM fd and drmHandleEvent for the
 *               page-flip event; the time is the CPU time of every process in the system (pb_busy_ns), since the
 *               vblank between a commit and its event is idle time that the guest's clock still counts
 *   *-locked:   the imports through a handle table as libdrm_amdgpu keeps one (amdgpu_bo_import/amdgpu_bo_free): a
 *               mutex held across FD_TO_HANDLE and the lookup and count, and across the last release's GEM_CLOSE;
 *               what a C user of a real driver library pays, beside the bare ioctl
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
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/dma-buf.h>
#include <xf86drm.h>
#include <xf86drmMode.h>
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

/* ---- The handle table of libdrm_amdgpu (amdgpu_bo.c), reduced to what an import and a release do with it: a
 * mutex held across FD_TO_HANDLE, the lookup of the handle and its count (so that a concurrent last release cannot
 * close the handle the kernel has just returned), and across the last release's GEM_CLOSE; other releases are an
 * atomic decrement. amdgpu finds a handle in a hash table; an array indexed by the handle number is cheaper still. */
#define TABLE_SLOTS 65536
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static int table_refs[TABLE_SLOTS];

static uint32_t locked_import(int fd, int dmabuf)
{
    uint32_t handle;
    pthread_mutex_lock(&table_lock);
    check(drmPrimeFDToHandle(fd, dmabuf, &handle), "drmPrimeFDToHandle");
    check(handle >= TABLE_SLOTS, "handle beyond the table");
    __atomic_add_fetch(&table_refs[handle], 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&table_lock);
    return handle;
}

static void locked_release(int fd, uint32_t handle)
{
    if (__atomic_sub_fetch(&table_refs[handle], 1, __ATOMIC_SEQ_CST) > 0) /* amdgpu_bo_free: not the last reference */
        return;
    pthread_mutex_lock(&table_lock);
    if (__atomic_load_n(&table_refs[handle], __ATOMIC_SEQ_CST) == 0) /* no import counted it again meanwhile */
        check(drmCloseBufferHandle(fd, handle), "drmCloseBufferHandle");
    pthread_mutex_unlock(&table_lock);
}

/* pb_roundtrip with the import and its release through the table. */
PB_API double pb_roundtrip_locked(int card, int render, uint32_t handle, long n)
{
    int fd;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        check(drmPrimeHandleToFD(card, handle, DRM_CLOEXEC, &fd), "drmPrimeHandleToFD");
        locked_release(render, locked_import(render, fd));
        close(fd);
    }
    return (now_ns() - t0) / n;
}

/* pb_dup_import through the table: `held` is counted there once (the first import), so no release is the last. */
PB_API double pb_dup_import_locked(int render, int dmabuf, uint32_t held, long n)
{
    __atomic_add_fetch(&table_refs[held], 1, __ATOMIC_SEQ_CST);
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        uint32_t handle = locked_import(render, dmabuf);
        check(handle != held, "dup-import returned another handle");
        locked_release(render, handle);
    }
    double t = (now_ns() - t0) / n;
    __atomic_sub_fetch(&table_refs[held], 1, __ATOMIC_SEQ_CST);
    return t;
}

/* ---- Fence waits. The signalling peer is a thread of this library, shared by the C and the C# loops: it reads fence
 * ids from a pipe and signals each (VGEM_FENCE_SIGNAL), as a GPU finishing jobs would. Both sides hand their fences
 * over with pb_peer_signal, so the hand-over costs them the same. */
static int peer_card = -1, peer_pipe[2] = { -1, -1 };

static void *peer_main(void *arg)
{
    (void)arg;
    uint32_t fences[1024];
    for (;;) {
        ssize_t r = read(peer_pipe[0], fences, sizeof fences);
        if (r < 0 && errno == EINTR)
            continue;
        check(r <= 0 || r % sizeof fences[0], "peer read");
        for (size_t i = 0; i < r / sizeof fences[0]; i++) {
            struct drm_vgem_fence_signal signal = { .fence = fences[i] };
            check(drmIoctl(peer_card, DRM_IOCTL_VGEM_FENCE_SIGNAL, &signal), "VGEM_FENCE_SIGNAL");
        }
    }
    return NULL;
}

/* Starts the peer (once per process) for fences of vgem file `card`. */
PB_API void pb_peer_start(int card)
{
    if (peer_card >= 0)
        return;
    peer_card = card;
    check(pipe2(peer_pipe, O_CLOEXEC), "pipe2");
    pthread_t t;
    check(pthread_create(&t, NULL, peer_main, NULL), "pthread_create");
    pthread_detach(t);
}

/* Hands `count` fences to the peer, which signals them in this order. */
PB_API void pb_peer_signal(const uint32_t *fences, int count)
{
    size_t size = count * sizeof fences[0];
    check(write(peer_pipe[1], fences, size) != (ssize_t)size, "peer write");
}

/* A pending write fence on the object behind `handle` (a vgem file's handle); returns its id. */
PB_API uint32_t pb_fence_attach(int card, uint32_t handle)
{
    struct drm_vgem_fence_attach attach = { .handle = handle, .flags = VGEM_FENCE_WRITE };
    check(drmIoctl(card, DRM_IOCTL_VGEM_FENCE_ATTACH, &attach), "VGEM_FENCE_ATTACH");
    return attach.out_fence;
}

/* One epoll set, each dma-buf added once (EPOLLONESHOT, disarmed), its data the buffer's index. */
static int wait_set(const int *dmabufs, int count)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    check(ep < 0, "epoll_create1");
    for (int i = 0; i < count; i++) {
        struct epoll_event ev = { .events = 0, .data.u64 = i };
        check(epoll_ctl(ep, EPOLL_CTL_ADD, dmabufs[i], &ev), "EPOLL_CTL_ADD");
    }
    return ep;
}

static void rearm(int ep, int dmabuf, int index)
{
    struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = index };
    check(epoll_ctl(ep, EPOLL_CTL_MOD, dmabuf, &ev), "EPOLL_CTL_MOD");
}

/* wait-1: per op, a fence attached, the buffer re-armed, the fence handed to the peer, epoll_wait for the buffer. */
PB_API double pb_wait_1(int card, uint32_t handle, int dmabuf, long n)
{
    int ep = wait_set(&dmabuf, 1);
    struct epoll_event ev;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        uint32_t fence = pb_fence_attach(card, handle);
        rearm(ep, dmabuf, 0);
        pb_peer_signal(&fence, 1);
        int r;
        while ((r = epoll_wait(ep, &ev, 1, -1)) < 0 && errno == EINTR)
            ;
        check(r != 1 || !(ev.events & EPOLLIN), "epoll_wait");
    }
    double t = (now_ns() - t0) / n;
    close(ep);
    return t;
}

/* wait-1k: `rounds` times, a fence on each of `count` buffers, all re-armed, the fences handed to the peer in the order
 * of `order` (a permutation of 0..count-1), epoll_wait until every buffer reported. Returns ns per wait; *last gets
 * the mean time from the hand-over to the last buffer's event. */
PB_API double pb_wait_1k(int card, const uint32_t *handles, const int *dmabufs, const int *order, int count, long rounds, double *last)
{
    check(count <= 0, "wait-1k count");
    int ep = wait_set(dmabufs, count);
    uint32_t *fences = calloc(count, sizeof *fences), *shuffled = calloc(count, sizeof *shuffled);
    char *seen = calloc(count, 1);
    struct epoll_event events[64];
    double to_last = 0;
    double t0 = now_ns();
    for (long round = 0; round < rounds; round++) {
        for (int i = 0; i < count; i++) {
            fences[i] = pb_fence_attach(card, handles[i]);
            rearm(ep, dmabufs[i], i);
        }
        for (int i = 0; i < count; i++)
            shuffled[i] = fences[order[i]];
        memset(seen, 0, (size_t)count);
        double handed = now_ns();
        pb_peer_signal(shuffled, count);
        for (int done = 0; done < count;) {
            int r = epoll_wait(ep, events, 64, -1);
            if (r < 0 && errno == EINTR)
                continue;
            check(r <= 0, "epoll_wait");
            for (int k = 0; k < r; k++) {
                int i = (int)events[k].data.u64;
                check(seen[i] || !(events[k].events & EPOLLIN), "wait-1k event");
                seen[i] = 1;
                done++;
            }
        }
        to_last += now_ns() - handed;
    }
    double t = (now_ns() - t0) / ((double)rounds * count);
    *last = to_last / rounds;
    free(fences);
    free(shuffled);
    free(seen);
    close(ep);
    return t;
}

/* ---- Page flips. Under the rig's icount clock the guest's clock jumps over idle time to the next timer, so a frame
 * that waits for its vblank takes the mode's whole frame period (16.7 ms at 60 Hz) of guest time, C's and C#'s alike.
 * What a frame costs is the CPU time every process spends on it, the kernel's threads included: the sum of each
 * process's CPU clock (CLOCK_PROCESS_CPUTIME_ID of any pid), read before and after a loop. Only what runs while the
 * CPU is otherwise idle (the vblank's interrupt, which sends the event) is in neither. */
PB_API double pb_busy_ns(void)
{
    double total = 0;
    DIR *proc = opendir("/proc");
    check(!proc, "opendir /proc");
    for (struct dirent *e; (e = readdir(proc));) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        clockid_t clock;
        struct timespec t;
        /* A process that has exited meanwhile has no clock any more: what it ran is lost to both sides alike. */
        if (*end || pid <= 0 || clock_getcpuclockid((pid_t)pid, &clock) || clock_gettime(clock, &t))
            continue;
        total += t.tv_sec * 1e9 + t.tv_nsec;
    }
    closedir(proc);
    return total;
}

static uint64_t flipped; /* the user data of the last page-flip event */

static void flip_done(int fd, unsigned sequence, unsigned sec, unsigned usec, unsigned crtc, void *data)
{
    (void)fd, (void)sequence, (void)sec, (void)usec, (void)crtc;
    flipped = (uint64_t)(uintptr_t)data;
}

/* flip: n frames alternating between two vgem buffers (handles on `card`, their dma-bufs) imported into vkms (`kms`,
 * this process DRM master, the CRTC on), framebuffers fbs[0] and fbs[1]. Per frame: a write fence on the buffer,
 * re-armed in the epoll set, handed to the peer and waited for (wait-1); the plane's FB_ID set to its framebuffer
 * (a request reused, as a compositor reuses its own) and committed NONBLOCK|PAGE_FLIP_EVENT; poll on the DRM fd and
 * drmHandleEvent. Returns guest ns per frame; *busy gets the CPU time of every process per frame (pb_busy_ns). */
PB_API double pb_flip(int card, const uint32_t *handles, const int *dmabufs, int kms, uint32_t plane, uint32_t fb_id,
                      const uint32_t *fbs, long n, double *busy)
{
    int ep = wait_set(dmabufs, 2);
    drmModeAtomicReq *request = drmModeAtomicAlloc();
    check(!request, "drmModeAtomicAlloc");
    drmEventContext events = { .version = 3, .page_flip_handler2 = flip_done };
    struct epoll_event ev;
    double b0 = pb_busy_ns(), t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int k = (int)(i & 1);
        uint32_t fence = pb_fence_attach(card, handles[k]);
        rearm(ep, dmabufs[k], k);
        pb_peer_signal(&fence, 1);
        int r;
        while ((r = epoll_wait(ep, &ev, 1, -1)) < 0 && errno == EINTR)
            ;
        check(r != 1 || !(ev.events & EPOLLIN) || ev.data.u64 != (uint64_t)k, "epoll_wait");

        drmModeAtomicSetCursor(request, 0);
        check(drmModeAtomicAddProperty(request, plane, fb_id, fbs[k]) < 0, "drmModeAtomicAddProperty");
        check(drmModeAtomicCommit(kms, request, DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT, (void *)(uintptr_t)(i + 1)),
              "drmModeAtomicCommit");
        struct pollfd p = { .fd = kms, .events = POLLIN };
        while ((r = poll(&p, 1, -1)) < 0 && errno == EINTR)
            ;
        check(r != 1 || !(p.revents & POLLIN), "poll");
        check(drmHandleEvent(kms, &events), "drmHandleEvent");
        check(flipped != (uint64_t)i + 1, "page-flip event");
    }
    double t = (now_ns() - t0) / n;
    *busy = (pb_busy_ns() - b0) / n;
    drmModeAtomicFree(request);
    close(ep);
    return t;
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
    double dup_import_locked = pb_dup_import_locked(render, held_fd, held, n);
    double roundtrip_locked = pb_roundtrip_locked(card, render, create.handle, n);
    pb_peer_start(card);
    double wait_1 = pb_wait_1(card, create.handle, held_fd, n / 4 > 0 ? n / 4 : 1);

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

    printf("export %.0f\nroundtrip %.0f\ndup-import %.0f\naccess %.0f\nfdpass-1 %.0f\nfdpass-4 %.0f\nscale-10k %.0f\n"
           "dup-import-locked %.0f\nroundtrip-locked %.0f\nwait-1 %.0f\n",
           export, roundtrip, dup_import, access, fd1, fd4, scale_10k, dup_import_locked, roundtrip_locked, wait_1);
    drmCloseBufferHandle(card, create.handle);
    close(held_fd);
    close(render);
    close(card);
    return 0;
}
#endif
