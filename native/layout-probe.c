/* Prints every ioctl number, struct size and field offset PrimeInterop uses, compiled against the kernel's
 * uapi headers (libdrm's copies of drm.h/drm_mode.h, linux-libc-dev's dma-buf.h). The layout test compares
 * this output with the managed definitions in src/PrimeInterop/Interop. */
#define _GNU_SOURCE /* SCM_CREDENTIALS */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <drm.h>
#include <drm_mode.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/memfd.h>
#include <linux/sync_file.h>
#include <linux/udmabuf.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include "vgem.h"
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define IOCTL(name) printf("ioctl %s 0x%08lx\n", #name, (unsigned long)(name))
#define SIZE(type) printf("size %s %zu\n", #type, sizeof(struct type))
#define OFF(type, field) printf("offset %s.%s %zu\n", #type, #field, offsetof(struct type, field))
#define CONST(name) printf("const %s 0x%lx\n", #name, (unsigned long)(name))

int main(void)
{
    IOCTL(DRM_IOCTL_VERSION);
    IOCTL(DRM_IOCTL_GET_CAP);
    IOCTL(DRM_IOCTL_GEM_CLOSE);
    IOCTL(DRM_IOCTL_PRIME_HANDLE_TO_FD);
    IOCTL(DRM_IOCTL_PRIME_FD_TO_HANDLE);
    IOCTL(DRM_IOCTL_MODE_CREATE_DUMB);
    IOCTL(DRM_IOCTL_MODE_MAP_DUMB);
    IOCTL(DRM_IOCTL_MODE_DESTROY_DUMB);
    IOCTL(DRM_IOCTL_MODE_ADDFB2);
    IOCTL(DRM_IOCTL_MODE_RMFB);
    IOCTL(DMA_BUF_IOCTL_SYNC);
    IOCTL(DMA_BUF_SET_NAME);
    IOCTL(DMA_BUF_IOCTL_EXPORT_SYNC_FILE);
    IOCTL(DMA_BUF_IOCTL_IMPORT_SYNC_FILE);
    IOCTL(UDMABUF_CREATE);
    IOCTL(UDMABUF_CREATE_LIST);
    IOCTL(DMA_HEAP_IOCTL_ALLOC);
    IOCTL(SYNC_IOC_MERGE);
    IOCTL(SYNC_IOC_FILE_INFO);
    IOCTL(DRM_IOCTL_VGEM_FENCE_ATTACH);
    IOCTL(DRM_IOCTL_VGEM_FENCE_SIGNAL);
    IOCTL(SW_SYNC_IOC_CREATE_FENCE);
    IOCTL(SW_SYNC_IOC_INC);

    SIZE(drm_version);
    OFF(drm_version, version_major); OFF(drm_version, version_minor); OFF(drm_version, version_patchlevel);
    OFF(drm_version, name_len); OFF(drm_version, name); OFF(drm_version, date_len); OFF(drm_version, date);
    OFF(drm_version, desc_len); OFF(drm_version, desc);
    SIZE(drm_get_cap);
    OFF(drm_get_cap, capability); OFF(drm_get_cap, value);
    SIZE(drm_gem_close);
    OFF(drm_gem_close, handle); OFF(drm_gem_close, pad);
    SIZE(drm_prime_handle);
    OFF(drm_prime_handle, handle); OFF(drm_prime_handle, flags); OFF(drm_prime_handle, fd);
    SIZE(drm_mode_create_dumb);
    OFF(drm_mode_create_dumb, height); OFF(drm_mode_create_dumb, width); OFF(drm_mode_create_dumb, bpp);
    OFF(drm_mode_create_dumb, flags); OFF(drm_mode_create_dumb, handle); OFF(drm_mode_create_dumb, pitch);
    OFF(drm_mode_create_dumb, size);
    SIZE(drm_mode_map_dumb);
    OFF(drm_mode_map_dumb, handle); OFF(drm_mode_map_dumb, pad); OFF(drm_mode_map_dumb, offset);
    SIZE(drm_mode_destroy_dumb);
    OFF(drm_mode_destroy_dumb, handle);
    SIZE(drm_mode_fb_cmd2);
    OFF(drm_mode_fb_cmd2, fb_id); OFF(drm_mode_fb_cmd2, width); OFF(drm_mode_fb_cmd2, height);
    OFF(drm_mode_fb_cmd2, pixel_format); OFF(drm_mode_fb_cmd2, flags); OFF(drm_mode_fb_cmd2, handles);
    OFF(drm_mode_fb_cmd2, pitches); OFF(drm_mode_fb_cmd2, offsets); OFF(drm_mode_fb_cmd2, modifier);
    SIZE(dma_buf_sync);
    OFF(dma_buf_sync, flags);
    SIZE(dma_buf_export_sync_file);
    OFF(dma_buf_export_sync_file, flags); OFF(dma_buf_export_sync_file, fd);
    SIZE(dma_buf_import_sync_file);
    OFF(dma_buf_import_sync_file, flags); OFF(dma_buf_import_sync_file, fd);

    SIZE(udmabuf_create);
    OFF(udmabuf_create, memfd); OFF(udmabuf_create, flags); OFF(udmabuf_create, offset); OFF(udmabuf_create, size);
    SIZE(udmabuf_create_item);
    OFF(udmabuf_create_item, memfd); OFF(udmabuf_create_item, __pad); OFF(udmabuf_create_item, offset);
    OFF(udmabuf_create_item, size);
    SIZE(udmabuf_create_list);
    OFF(udmabuf_create_list, flags); OFF(udmabuf_create_list, count);
    SIZE(dma_heap_allocation_data);
    OFF(dma_heap_allocation_data, len); OFF(dma_heap_allocation_data, fd); OFF(dma_heap_allocation_data, fd_flags);
    OFF(dma_heap_allocation_data, heap_flags);
    SIZE(sync_merge_data);
    OFF(sync_merge_data, name); OFF(sync_merge_data, fd2); OFF(sync_merge_data, fence); OFF(sync_merge_data, flags);
    OFF(sync_merge_data, pad);
    SIZE(sync_fence_info);
    OFF(sync_fence_info, obj_name); OFF(sync_fence_info, driver_name); OFF(sync_fence_info, status);
    OFF(sync_fence_info, flags); OFF(sync_fence_info, timestamp_ns);
    SIZE(drm_vgem_fence_attach);
    OFF(drm_vgem_fence_attach, handle); OFF(drm_vgem_fence_attach, flags); OFF(drm_vgem_fence_attach, out_fence);
    OFF(drm_vgem_fence_attach, pad);
    SIZE(drm_vgem_fence_signal);
    OFF(drm_vgem_fence_signal, fence); OFF(drm_vgem_fence_signal, flags);
    SIZE(sw_sync_create_fence_data);
    OFF(sw_sync_create_fence_data, value); OFF(sw_sync_create_fence_data, name); OFF(sw_sync_create_fence_data, fence);
    SIZE(epoll_event);
    OFF(epoll_event, events); OFF(epoll_event, data);
    SIZE(sync_file_info);
    OFF(sync_file_info, name); OFF(sync_file_info, status); OFF(sync_file_info, flags);
    OFF(sync_file_info, num_fences); OFF(sync_file_info, pad); OFF(sync_file_info, sync_fence_info);
    SIZE(statfs);
    OFF(statfs, f_type); OFF(statfs, f_bsize); OFF(statfs, f_blocks); OFF(statfs, f_bfree); OFF(statfs, f_bavail);
    OFF(statfs, f_files); OFF(statfs, f_ffree); OFF(statfs, f_fsid); OFF(statfs, f_namelen); OFF(statfs, f_frsize);
    OFF(statfs, f_flags); OFF(statfs, f_spare);

    SIZE(cmsghdr);
    OFF(cmsghdr, cmsg_len); OFF(cmsghdr, cmsg_level); OFF(cmsghdr, cmsg_type);
    SIZE(msghdr);
    OFF(msghdr, msg_name); OFF(msghdr, msg_namelen); OFF(msghdr, msg_iov); OFF(msghdr, msg_iovlen);
    OFF(msghdr, msg_control); OFF(msghdr, msg_controllen); OFF(msghdr, msg_flags);
    SIZE(iovec);
    OFF(iovec, iov_base); OFF(iovec, iov_len);
    SIZE(rlimit);
    OFF(rlimit, rlim_cur); OFF(rlimit, rlim_max);
    CONST(RLIMIT_NOFILE);
    for (int n = 1; n <= 3; n++) {
        printf("cmsg_len %d %zu\n", n, (size_t)CMSG_LEN(n * sizeof(int)));
        printf("cmsg_space %d %zu\n", n, (size_t)CMSG_SPACE(n * sizeof(int)));
    }
    /* The receive control room: SCM_MAX_FD (include/net/scm.h, not exported) fds, SCM_CREDENTIALS, SCM_PIDFD (one
       int; Linux 6.5, not in this glibc's headers) and a 256-byte SCM_SECURITY label, as glibc's macros size them. */
    printf("const MaxReceiveControlLength %zu\n",
        (size_t)(CMSG_SPACE(253 * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(256)));
    CONST(SOL_SOCKET);
    CONST(SCM_RIGHTS);
    CONST(MSG_CTRUNC);
    CONST(MSG_TRUNC);
    CONST(MSG_DONTWAIT);
    CONST(MSG_NOSIGNAL);
    CONST(MSG_CMSG_CLOEXEC);
    CONST(SCM_CREDENTIALS);
    CONST(SO_PASSCRED);
    CONST(DMA_BUF_MAGIC);
    CONST(ANON_INODE_FS_MAGIC);
    CONST(O_NOCTTY);
    CONST(O_PATH);
    CONST(S_IFMT);
    CONST(S_IFCHR);
    CONST(O_NONBLOCK);
    CONST(F_GETFL);
    CONST(F_SETFL);
    CONST(EFD_CLOEXEC);
    CONST(POLLIN);
    CONST(POLLOUT);

    CONST(DRM_MODE_FB_MODIFIERS);
    CONST(DRM_CLOEXEC);
    CONST(DRM_RDWR);
    CONST(DRM_CAP_PRIME);
    CONST(DRM_PRIME_CAP_IMPORT);
    CONST(DRM_PRIME_CAP_EXPORT);
    CONST(DMA_BUF_SYNC_READ);
    CONST(DMA_BUF_SYNC_WRITE);
    CONST(DMA_BUF_SYNC_START);
    CONST(DMA_BUF_SYNC_END);
    CONST(DMA_BUF_NAME_LEN);
    CONST(UDMABUF_FLAGS_CLOEXEC);
    CONST(MFD_CLOEXEC);
    CONST(MFD_ALLOW_SEALING);
    CONST(F_ADD_SEALS);
    CONST(F_GET_SEALS);
    CONST(F_SEAL_SEAL);
    CONST(F_SEAL_SHRINK);
    CONST(F_SEAL_GROW);
    CONST(F_SEAL_WRITE);
    CONST(F_SEAL_FUTURE_WRITE);
    CONST(VGEM_FENCE_WRITE);
    CONST(DRM_COMMAND_BASE);
    CONST(EPOLL_CLOEXEC);
    CONST(EPOLL_CTL_ADD);
    CONST(EPOLL_CTL_DEL);
    CONST(EPOLLIN);
    CONST(EPOLLOUT);
    CONST(EPOLLERR);
    CONST(EPOLLHUP);
    CONST(EPOLLONESHOT);
    return 0;
}
