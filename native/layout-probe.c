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
#include <linux/magic.h>
#include <linux/sync_file.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/vfs.h>
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
    IOCTL(SYNC_IOC_FILE_INFO);

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
    return 0;
}
