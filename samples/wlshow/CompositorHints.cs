namespace WlShow;

/// <summary>The compositor families whose usual causes wlshow can name.</summary>
public enum CompositorKind
{
    Other,
    Weston,
    Wlroots,
}

/// <summary>
/// What is missing and its likely causes, per compositor family: a guess about weston is given only for weston,
/// one about wlroots only for a wlroots compositor, and a neutral one otherwise.
/// </summary>
internal static class CompositorHints
{
    /// <summary>weston by its process name; wlroots by the wlr protocols only wlroots compositors offer.</summary>
    public static CompositorKind Identify(string? processName, IEnumerable<string> globals)
    {
        if (processName is not null && processName.StartsWith("weston", StringComparison.Ordinal))
        {
            return CompositorKind.Weston;
        }

        return globals.Any(g => g.StartsWith("zwlr_", StringComparison.Ordinal)) ? CompositorKind.Wlroots : CompositorKind.Other;
    }

    public static string NoDmaBuf(string name, CompositorKind kind) => $"{name} offers no zwp_linux_dmabuf_v1, so it cannot take a dma-buf; nothing was sent. " + kind switch
    {
        CompositorKind.Weston => "weston offers it only with its GL renderer: the pixman renderer has none (weston falls back to pixman when GL does not start; its log says why).",
        CompositorKind.Wlroots => "wlroots offers it only when its renderer has a DRM render node: a KMS device without one (vkms) or the pixman renderer gives none; run it on a device with a render node (WLR_RENDERER=gles2, WLR_DRM_DEVICES).",
        _ => "Likely causes: a software renderer, or no DRM render node for the compositor's renderer.",
    };

    public static string NoShell(string name, CompositorKind kind, ShellChoice asked, bool hasXdg, bool hasFullscreen) => (asked, hasXdg, hasFullscreen) switch
    {
        (ShellChoice.Xdg, false, true) => $"{name} offers no xdg_wm_base, only zwp_fullscreen_shell_v1: use --shell=fullscreen" +
            (kind == CompositorKind.Weston ? " (weston runs with --shell=fullscreen-shell.so; its default desktop shell offers xdg-shell)." : "."),
        (ShellChoice.Fullscreen, true, false) => $"{name} offers no zwp_fullscreen_shell_v1: use --shell=xdg" + kind switch
        {
            CompositorKind.Weston => ", or run weston with --shell=fullscreen-shell.so.",
            CompositorKind.Wlroots => " (wlroots compositors have no fullscreen shell).",
            _ => ".",
        },
        _ => $"{name} offers neither xdg_wm_base nor zwp_fullscreen_shell_v1: there is no shell wlshow can put a full-screen surface on.",
    };

    public static string NoCapture(string name, CompositorKind kind) => $"{name} offers no capture protocol wlshow speaks, so the output cannot be read back to verify it. " + kind switch
    {
        CompositorKind.Weston => "weston offers weston_screenshooter only with its debug protocols enabled (weston --debug).",
        CompositorKind.Wlroots => "wlroots compositors offer zwlr_screencopy_manager_v1 unless it is disabled in their configuration.",
        _ => "wlshow reads back through weston_screenshooter or zwlr_screencopy_manager_v1, and this compositor offers neither.",
    };
}
