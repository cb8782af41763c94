/* Prints every ioctl number, struct size and field offset PrimeInterop uses, compiled against the kernel's
 * uapi headers (libdrm's copies of drm.h/drm_mode.h, linux-libc-dev's dma-buf.h). The layout test compares
 * this output with the managed definitions in src/PrimeInterop/Interop. Built for each supported architecture
 * (`make -C native arm64`: aarch64 with Debian's cross compiler and arm64 headers) and compared there with the
 * layouts that architecture's runtime gives the same managed types. */
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

    /* Taken from Tmds.LibC: its runtime-specific assembly (runtimes/linux-x64, linux-arm64) has the layout. */
    SIZE(stat);
    OFF(stat, st_dev); OFF(stat, st_ino); OFF(stat, st_mode); OFF(stat, st_rdev);
    SIZE(pollfd);
    OFF(pollfd, fd); OFF(pollfd, events); OFF(pollfd, revents);

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
    /* KMS: resources, properties, blobs, atomic commits, client caps, master, events. */
    IOCTL(DRM_IOCTL_MODE_GETRESOURCES);
    IOCTL(DRM_IOCTL_MODE_GETCRTC);
    IOCTL(DRM_IOCTL_MODE_GETENCODER);
    IOCTL(DRM_IOCTL_MODE_GETCONNECTOR);
    IOCTL(DRM_IOCTL_MODE_GETPLANERESOURCES);
    IOCTL(DRM_IOCTL_MODE_GETPLANE);
    IOCTL(DRM_IOCTL_MODE_GETPROPERTY);
    IOCTL(DRM_IOCTL_MODE_GETPROPBLOB);
    IOCTL(DRM_IOCTL_MODE_OBJ_GETPROPERTIES);
    IOCTL(DRM_IOCTL_MODE_CREATEPROPBLOB);
    IOCTL(DRM_IOCTL_MODE_DESTROYPROPBLOB);
    IOCTL(DRM_IOCTL_MODE_ATOMIC);
    IOCTL(DRM_IOCTL_SET_CLIENT_CAP);
    IOCTL(DRM_IOCTL_AUTH_MAGIC);
    IOCTL(DRM_IOCTL_SET_MASTER);
    IOCTL(DRM_IOCTL_DROP_MASTER);
    SIZE(drm_mode_modeinfo);
    OFF(drm_mode_modeinfo, clock); OFF(drm_mode_modeinfo, hdisplay); OFF(drm_mode_modeinfo, hsync_start);
    OFF(drm_mode_modeinfo, hsync_end); OFF(drm_mode_modeinfo, htotal); OFF(drm_mode_modeinfo, hskew);
    OFF(drm_mode_modeinfo, vdisplay); OFF(drm_mode_modeinfo, vsync_start); OFF(drm_mode_modeinfo, vsync_end);
    OFF(drm_mode_modeinfo, vtotal); OFF(drm_mode_modeinfo, vscan); OFF(drm_mode_modeinfo, vrefresh);
    OFF(drm_mode_modeinfo, flags); OFF(drm_mode_modeinfo, type); OFF(drm_mode_modeinfo, name);
    SIZE(drm_mode_card_res);
    OFF(drm_mode_card_res, fb_id_ptr); OFF(drm_mode_card_res, crtc_id_ptr); OFF(drm_mode_card_res, connector_id_ptr);
    OFF(drm_mode_card_res, encoder_id_ptr); OFF(drm_mode_card_res, count_fbs); OFF(drm_mode_card_res, count_crtcs);
    OFF(drm_mode_card_res, count_connectors); OFF(drm_mode_card_res, count_encoders); OFF(drm_mode_card_res, min_width);
    OFF(drm_mode_card_res, max_width); OFF(drm_mode_card_res, min_height); OFF(drm_mode_card_res, max_height);
    SIZE(drm_mode_crtc);
    OFF(drm_mode_crtc, set_connectors_ptr); OFF(drm_mode_crtc, count_connectors); OFF(drm_mode_crtc, crtc_id);
    OFF(drm_mode_crtc, fb_id); OFF(drm_mode_crtc, x); OFF(drm_mode_crtc, y); OFF(drm_mode_crtc, gamma_size);
    OFF(drm_mode_crtc, mode_valid); OFF(drm_mode_crtc, mode);
    SIZE(drm_mode_get_encoder);
    OFF(drm_mode_get_encoder, encoder_id); OFF(drm_mode_get_encoder, encoder_type); OFF(drm_mode_get_encoder, crtc_id);
    OFF(drm_mode_get_encoder, possible_crtcs); OFF(drm_mode_get_encoder, possible_clones);
    SIZE(drm_mode_get_connector);
    OFF(drm_mode_get_connector, encoders_ptr); OFF(drm_mode_get_connector, modes_ptr); OFF(drm_mode_get_connector, props_ptr);
    OFF(drm_mode_get_connector, prop_values_ptr); OFF(drm_mode_get_connector, count_modes);
    OFF(drm_mode_get_connector, count_props); OFF(drm_mode_get_connector, count_encoders);
    OFF(drm_mode_get_connector, encoder_id); OFF(drm_mode_get_connector, connector_id);
    OFF(drm_mode_get_connector, connector_type); OFF(drm_mode_get_connector, connector_type_id);
    OFF(drm_mode_get_connector, connection); OFF(drm_mode_get_connector, mm_width); OFF(drm_mode_get_connector, mm_height);
    OFF(drm_mode_get_connector, subpixel); OFF(drm_mode_get_connector, pad);
    SIZE(drm_mode_get_plane_res);
    OFF(drm_mode_get_plane_res, plane_id_ptr); OFF(drm_mode_get_plane_res, count_planes);
    SIZE(drm_mode_get_plane);
    OFF(drm_mode_get_plane, plane_id); OFF(drm_mode_get_plane, crtc_id); OFF(drm_mode_get_plane, fb_id);
    OFF(drm_mode_get_plane, possible_crtcs); OFF(drm_mode_get_plane, gamma_size);
    OFF(drm_mode_get_plane, count_format_types); OFF(drm_mode_get_plane, format_type_ptr);
    SIZE(drm_mode_obj_get_properties);
    OFF(drm_mode_obj_get_properties, props_ptr); OFF(drm_mode_obj_get_properties, prop_values_ptr);
    OFF(drm_mode_obj_get_properties, count_props); OFF(drm_mode_obj_get_properties, obj_id);
    OFF(drm_mode_obj_get_properties, obj_type);
    SIZE(drm_mode_get_property);
    OFF(drm_mode_get_property, values_ptr); OFF(drm_mode_get_property, enum_blob_ptr); OFF(drm_mode_get_property, prop_id);
    OFF(drm_mode_get_property, flags); OFF(drm_mode_get_property, name); OFF(drm_mode_get_property, count_values);
    OFF(drm_mode_get_property, count_enum_blobs);
    SIZE(drm_mode_property_enum);
    OFF(drm_mode_property_enum, value); OFF(drm_mode_property_enum, name);
    SIZE(drm_mode_create_blob);
    OFF(drm_mode_create_blob, data); OFF(drm_mode_create_blob, length); OFF(drm_mode_create_blob, blob_id);
    SIZE(drm_mode_destroy_blob);
    OFF(drm_mode_destroy_blob, blob_id);
    SIZE(drm_mode_get_blob);
    OFF(drm_mode_get_blob, blob_id); OFF(drm_mode_get_blob, length); OFF(drm_mode_get_blob, data);
    SIZE(drm_format_modifier_blob);
    OFF(drm_format_modifier_blob, version); OFF(drm_format_modifier_blob, flags); OFF(drm_format_modifier_blob, count_formats);
    OFF(drm_format_modifier_blob, formats_offset); OFF(drm_format_modifier_blob, count_modifiers);
    OFF(drm_format_modifier_blob, modifiers_offset);
    SIZE(drm_format_modifier);
    OFF(drm_format_modifier, formats); OFF(drm_format_modifier, offset); OFF(drm_format_modifier, pad);
    OFF(drm_format_modifier, modifier);
    SIZE(drm_mode_atomic);
    OFF(drm_mode_atomic, flags); OFF(drm_mode_atomic, count_objs); OFF(drm_mode_atomic, objs_ptr);
    OFF(drm_mode_atomic, count_props_ptr); OFF(drm_mode_atomic, props_ptr); OFF(drm_mode_atomic, prop_values_ptr);
    OFF(drm_mode_atomic, reserved); OFF(drm_mode_atomic, user_data);
    SIZE(drm_set_client_cap);
    OFF(drm_set_client_cap, capability); OFF(drm_set_client_cap, value);
    SIZE(drm_auth);
    OFF(drm_auth, magic);
    SIZE(drm_event);
    OFF(drm_event, type); OFF(drm_event, length);
    SIZE(drm_event_vblank);
    OFF(drm_event_vblank, base); OFF(drm_event_vblank, user_data); OFF(drm_event_vblank, tv_sec);
    OFF(drm_event_vblank, tv_usec); OFF(drm_event_vblank, sequence); OFF(drm_event_vblank, crtc_id);
    SIZE(drm_event_crtc_sequence);
    OFF(drm_event_crtc_sequence, base); OFF(drm_event_crtc_sequence, user_data); OFF(drm_event_crtc_sequence, time_ns);
    OFF(drm_event_crtc_sequence, sequence);
    CONST(DRM_DISPLAY_MODE_LEN);
    CONST(DRM_PROP_NAME_LEN);
    CONST(DRM_MODE_TYPE_PREFERRED);
    CONST(DRM_MODE_OBJECT_CRTC);
    CONST(DRM_MODE_OBJECT_CONNECTOR);
    CONST(DRM_MODE_OBJECT_ENCODER);
    CONST(DRM_MODE_OBJECT_MODE);
    CONST(DRM_MODE_OBJECT_PROPERTY);
    CONST(DRM_MODE_OBJECT_FB);
    CONST(DRM_MODE_OBJECT_BLOB);
    CONST(DRM_MODE_OBJECT_PLANE);
    CONST(DRM_MODE_OBJECT_ANY);
    CONST(DRM_MODE_PROP_PENDING);
    CONST(DRM_MODE_PROP_RANGE);
    CONST(DRM_MODE_PROP_IMMUTABLE);
    CONST(DRM_MODE_PROP_ENUM);
    CONST(DRM_MODE_PROP_BLOB);
    CONST(DRM_MODE_PROP_BITMASK);
    CONST(DRM_MODE_PROP_EXTENDED_TYPE);
    CONST(DRM_MODE_PROP_OBJECT);
    CONST(DRM_MODE_PROP_SIGNED_RANGE);
    CONST(DRM_MODE_PROP_ATOMIC);
    CONST(FORMAT_BLOB_CURRENT);
    CONST(DRM_MODE_PAGE_FLIP_EVENT);
    CONST(DRM_MODE_ATOMIC_TEST_ONLY);
    CONST(DRM_MODE_ATOMIC_NONBLOCK);
    CONST(DRM_MODE_ATOMIC_ALLOW_MODESET);
    CONST(DRM_CLIENT_CAP_STEREO_3D);
    CONST(DRM_CLIENT_CAP_UNIVERSAL_PLANES);
    CONST(DRM_CLIENT_CAP_ATOMIC);
    CONST(DRM_CLIENT_CAP_ASPECT_RATIO);
    CONST(DRM_CLIENT_CAP_WRITEBACK_CONNECTORS);
    CONST(DRM_EVENT_VBLANK);
    CONST(DRM_EVENT_FLIP_COMPLETE);
    CONST(DRM_EVENT_CRTC_SEQUENCE);
    CONST(O_WRONLY);
    return 0;
}
