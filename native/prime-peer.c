/* prime-peer: the libdrm side of the interop tests. Talks PrimeInterop's buffer-description wire format
 * (64 bytes, little endian, see DmaBufDescription.Write) over a UNIX stream socket, with the dma-buf fd in
 * SCM_RIGHTS.
 *
 *   prime-peer send SOCKET SEED   create a vgem dumb buffer, fill the test pattern, drmPrimeHandleToFD, send it
 *   prime-peer recv SOCKET SEED   receive a buffer, drmPrimeFDToHandle on vgem's render node, verify the pattern
 *
 * Exit status: 0 ok, 1 pattern mismatch, 2 any other failure (with a message on stderr). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/dma-buf.h>
#include <xf86drm.h>
#include "vgem.h"

#define WIRE_SIZE 64
#define WIRE_MAGIC 0x42444950u /* "PIDB" */
#define XRGB8888 0x34325258u   /* 'X' 'R' '2' '4' */

static void die(const char *what)
{
    fprintf(stderr, "prime-peer: %s: %s\n", what, strerror(errno));
    exit(2);
}

static uint32_t word(uint32_t index, uint32_t seed) { return (index * 2654435761u) ^ seed; }

static int connect_to(const char *path)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("connect");
    return s;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static int do_send(const char *sock_path, uint32_t seed)
{
    const uint32_t width = 64, height = 64;
    int card = open_vgem("card");
    struct drm_mode_create_dumb create = { .width = width, .height = height, .bpp = 32 };
    if (drmIoctl(card, DRM_IOCTL_MODE_CREATE_DUMB, &create))
        die("DRM_IOCTL_MODE_CREATE_DUMB");
    struct drm_mode_map_dumb map = { .handle = create.handle };
    if (drmIoctl(card, DRM_IOCTL_MODE_MAP_DUMB, &map))
        die("DRM_IOCTL_MODE_MAP_DUMB");
    uint32_t *pixels = mmap(NULL, create.size, PROT_READ | PROT_WRITE, MAP_SHARED, card, map.offset);
    if (pixels == MAP_FAILED)
        die("mmap dumb");
    for (uint32_t i = 0; i < create.size / 4; i++)
        pixels[i] = word(i, seed);
    munmap(pixels, create.size);

    int prime_fd;
    if (drmPrimeHandleToFD(card, create.handle, DRM_CLOEXEC | DRM_RDWR, &prime_fd))
        die("drmPrimeHandleToFD");

    uint8_t wire[WIRE_SIZE] = { 0 };
    put32(wire, WIRE_MAGIC);
    wire[4] = 1; /* version */
    wire[6] = 1; /* planes */
    put32(wire + 8, width);
    put32(wire + 12, height);
    put32(wire + 16, XRGB8888);
    /* modifier (24..31) 0 = linear; plane 0 offset 0, stride = pitch */
    put32(wire + 36, create.pitch);

    int s = connect_to(sock_path);
    char control[CMSG_SPACE(sizeof(int))] = { 0 };
    struct iovec iov = { .iov_base = wire, .iov_len = sizeof wire };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &prime_fd, sizeof(int));
    if (sendmsg(s, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof wire)
        die("sendmsg");
    printf("C: created vgem dumb buffer handle %u (%ux%u, pitch %u), drmPrimeHandleToFD -> fd %d, sent\n",
           create.handle, width, height, create.pitch, prime_fd);
    fflush(stdout);

    char ack;
    if (read(s, &ack, 1) < 0) /* wait until the peer is done with it */
        die("read ack");
    close(prime_fd);
    drmCloseBufferHandle(card, create.handle);
    close(s);
    close(card);
    return 0;
}

static int do_recv(const char *sock_path, uint32_t seed)
{
    int s = connect_to(sock_path);
    uint8_t wire[WIRE_SIZE];
    char control[CMSG_SPACE(4 * sizeof(int))];
    struct iovec iov = { .iov_base = wire, .iov_len = sizeof wire };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    ssize_t n = recvmsg(s, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    if (n != (ssize_t)sizeof wire)
        die("recvmsg");
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) {
        errno = EPROTO;
        die("expected exactly one fd");
    }
    int prime_fd;
    memcpy(&prime_fd, CMSG_DATA(c), sizeof(int));
    if (get32(wire) != WIRE_MAGIC || get32(wire + 16) != XRGB8888) {
        errno = EPROTO;
        die("bad description");
    }
    uint32_t width = get32(wire + 8), height = get32(wire + 12), stride = get32(wire + 36);

    int render = open_vgem("renderD");
    uint32_t handle;
    if (drmPrimeFDToHandle(render, prime_fd, &handle))
        die("drmPrimeFDToHandle");
    /* Read the pixels back through the imported handle: export it again and map that. */
    int again;
    if (drmPrimeHandleToFD(render, handle, DRM_CLOEXEC, &again))
        die("drmPrimeHandleToFD (re-export)");
    size_t size = (size_t)lseek(again, 0, SEEK_END);
    const uint32_t *pixels = mmap(NULL, size, PROT_READ, MAP_SHARED, again, 0);
    if (pixels == MAP_FAILED)
        die("mmap dma-buf");
    struct dma_buf_sync sync = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ };
    if (drmIoctl(again, DMA_BUF_IOCTL_SYNC, &sync))
        die("DMA_BUF_IOCTL_SYNC start");
    size_t words = (size_t)stride * height / 4, bad = words;
    for (size_t i = 0; i < words && bad == words; i++)
        if (pixels[i] != word((uint32_t)i, seed))
            bad = i;
    sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
    drmIoctl(again, DMA_BUF_IOCTL_SYNC, &sync);
    munmap((void *)pixels, size);
    close(again);
    drmCloseBufferHandle(render, handle);
    close(prime_fd);
    close(render);
    if (write(s, "k", 1) != 1)
        die("write ack");
    close(s);
    if (bad != words) {
        printf("C: imported fd as handle %u; pattern MISMATCH at word %zu\n", handle, bad);
        return 1;
    }
    printf("C: received %ux%u stride %u, drmPrimeFDToHandle -> handle %u, pattern verified (%zu bytes)\n",
           width, height, stride, handle, words * 4);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "send") && strcmp(argv[1], "recv"))) {
        fprintf(stderr, "usage: prime-peer send|recv SOCKET SEED\n");
        return 2;
    }
    uint32_t seed = (uint32_t)strtoul(argv[3], NULL, 0);
    return strcmp(argv[1], "send") == 0 ? do_send(argv[2], seed) : do_recv(argv[2], seed);
}
