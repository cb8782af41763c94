namespace PrimeInterop;

/// <summary>
/// A <see cref="DmaBufDescription"/> imported into one device: one <see cref="GemHandle"/> reference per plane.
/// Planes in one underlying object share its handle (the reference count shows it); disposing closes each
/// handle once, when its last reference goes.
/// </summary>
public sealed class ImportedBuffer : IDisposable
{
    internal ImportedBuffer(DrmDevice device, DmaBufDescription description, GemHandle[] handles)
    {
        Device = device;
        Width = description.Width;
        Height = description.Height;
        Format = description.Format;
        Modifier = description.Modifier;
        Offsets = [.. description.Planes.Select(p => p.Offset)];
        Strides = [.. description.Planes.Select(p => p.Stride)];
        Handles = handles;
    }

    /// <summary>Imports each plane into <paramref name="device"/>; see <see cref="DrmDevice.ImportBuffer"/>.</summary>
    internal static ImportedBuffer Import(DrmDevice device, DmaBufDescription description)
    {
        ArgumentNullException.ThrowIfNull(description);
        var handles = new List<GemHandle>(description.Planes.Count);
        try
        {
            foreach (DmaBufPlane plane in description.Planes)
            {
                handles.Add(device.ImportDmaBuf(plane.Buffer));
            }

            return new ImportedBuffer(device, description, [.. handles]);
        }
        catch
        {
            handles.ForEach(h => h.Dispose());
            throw;
        }
    }


    /// <summary>The device the planes were imported into.</summary>
    public DrmDevice Device { get; }

    /// <summary>Width in pixels.</summary>
    public uint Width { get; }

    /// <summary>Height in pixels.</summary>
    public uint Height { get; }

    /// <summary>Pixel format.</summary>
    public DrmFourcc Format { get; }

    /// <summary>Format modifier.</summary>
    public ulong Modifier { get; }

    /// <summary>Per plane, its handle reference in <see cref="Device"/>.</summary>
    public IReadOnlyList<GemHandle> Handles { get; }

    /// <summary>Per plane, the byte offset.</summary>
    public IReadOnlyList<uint> Offsets { get; }

    /// <summary>Per plane, the stride.</summary>
    public IReadOnlyList<uint> Strides { get; }

    /// <summary>How many distinct buffer objects the planes live in.</summary>
    public int ObjectCount => Handles.Select(h => h.Number).Distinct().Count();

    /// <summary>Drops every plane's handle reference.</summary>
    public void Dispose()
    {
        foreach (GemHandle h in Handles)
        {
            h.Dispose();
        }
    }
}
