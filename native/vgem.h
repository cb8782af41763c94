/* Shared by the native helpers: find vgem's node of one type by asking each node's driver name. */
#ifndef PRIMEINTEROP_VGEM_H
#define PRIMEINTEROP_VGEM_H
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>

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

#endif
