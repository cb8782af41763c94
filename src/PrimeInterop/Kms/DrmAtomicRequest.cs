using System.Globalization;
using System.Text;

namespace PrimeInterop;

/// <summary>
/// The property values of one atomic commit (libdrm's <c>drmModeAtomicReq</c>), made with <see cref="Add(uint, DrmProperty, ulong)"/>
/// and committed with <see cref="DrmDevice.CommitAtomic"/>. Setting a property of an object twice keeps the last
/// value. Reusable: <see cref="Clear"/> it and build the next frame's; a request that is reused allocates nothing
/// once its arrays have grown to the largest frame's size. Not thread-safe.
/// </summary>
/// <remarks>
/// Out-fences (a CRTC's <c>OUT_FENCE_PTR</c>, a writeback connector's <c>WRITEBACK_OUT_FENCE_PTR</c>) are asked
/// for with <see cref="AddOutFence"/>: the commit points the kernel at memory of its own and, once the commit
/// succeeded, wraps each fd the kernel wrote there in a <see cref="SyncFile"/> this request holds until
/// <see cref="TakeOutFence"/> hands it over. Fences nobody took are disposed by <see cref="Clear"/> and by the next commit.
/// </remarks>
public sealed class DrmAtomicRequest
{
    private Entry[] _entries = new Entry[16];
    private int _count;
    private List<(uint ObjectId, SyncFile Fence)>? _fences;

    // The commit's arrays, kept between commits so that a reused request allocates nothing.
    private uint[] _objects = new uint[8];
    private uint[] _counts = new uint[8];
    private uint[] _properties = new uint[16];
    private ulong[] _values = new ulong[16];

    /// <summary>How many (object, property) values the request holds.</summary>
    public int Count => _count;

    /// <summary>Sets <paramref name="property"/> of object <paramref name="objectId"/> to <paramref name="value"/>.</summary>
    public void Add(uint objectId, DrmProperty property, ulong value)
    {
        ArgumentNullException.ThrowIfNull(property);
        Set(objectId, property.Id, value, property, outFence: false);
    }

    /// <summary>Sets property <paramref name="propertyId"/> of object <paramref name="objectId"/> to <paramref name="value"/>.</summary>
    public void Add(uint objectId, uint propertyId, ulong value) => Set(objectId, propertyId, value, null, outFence: false);

    /// <summary>Sets the property named <paramref name="name"/> of the object <paramref name="properties"/> describes.</summary>
    /// <exception cref="KeyNotFoundException">The object has no such property.</exception>
    public void Add(DrmObjectProperties properties, string name, ulong value)
    {
        ArgumentNullException.ThrowIfNull(properties);
        Add(properties.ObjectId, properties.GetProperty(name), value);
    }

    /// <summary>
    /// Asks for an out-fence through an out-fence pointer property of an object (<c>OUT_FENCE_PTR</c> of a CRTC,
    /// <c>WRITEBACK_OUT_FENCE_PTR</c> of a writeback connector). After a successful commit (not a test-only one),
    /// <see cref="TakeOutFence"/> gives the fence.
    /// </summary>
    public void AddOutFence(uint objectId, DrmProperty property)
    {
        ArgumentNullException.ThrowIfNull(property);
        Set(objectId, property.Id, 0, property, outFence: true);
    }

    /// <summary>
    /// A writeback job: the writeback connector described by <paramref name="connector"/> is put on
    /// <paramref name="crtcId"/> (<c>CRTC_ID</c>), writes the CRTC's next frame into <paramref name="target"/>
    /// (<c>WRITEBACK_FB_ID</c>, which must be the mode's size), and signals an out-fence when done
    /// (<c>WRITEBACK_OUT_FENCE_PTR</c>; <see cref="TakeOutFence"/> after the commit). Then read the target's pixels.
    /// </summary>
    public void AddWriteback(DrmObjectProperties connector, uint crtcId, Framebuffer target)
    {
        ArgumentNullException.ThrowIfNull(connector);
        ArgumentNullException.ThrowIfNull(target);
        Add(connector, "CRTC_ID", crtcId);
        Add(connector, "WRITEBACK_FB_ID", target.Id);
        AddOutFence(connector.ObjectId, connector.GetProperty("WRITEBACK_OUT_FENCE_PTR"));
    }

    /// <summary>Empties the request (and disposes any out-fence nobody took), keeping its arrays for the next frame.</summary>
    public void Clear()
    {
        Array.Clear(_entries, 0, _count);
        _count = 0;
        DisposeFences();
    }

    /// <summary>Hands over the out-fence the last commit made for <paramref name="objectId"/>; the caller disposes it.</summary>
    /// <exception cref="InvalidOperationException">No out-fence for that object is waiting: none was asked for, the commit failed or was test-only, or it was taken already.</exception>
    public SyncFile TakeOutFence(uint objectId)
    {
        if (_fences is not null)
        {
            for (int i = 0; i < _fences.Count; i++)
            {
                if (_fences[i].ObjectId == objectId)
                {
                    SyncFile fence = _fences[i].Fence;
                    _fences.RemoveAt(i);
                    return fence;
                }
            }
        }

        throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
            $"No out-fence of object {objectId} is waiting: ask for one with AddOutFence, commit (not TEST_ONLY), then take it once."));
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        var text = new StringBuilder();
        uint last = 0;
        bool first = true;
        SortByObject();
        for (int i = 0; i < _count; i++)
        {
            ref Entry e = ref _entries[i];
            if (first || e.ObjectId != last)
            {
                text.Append(first ? "" : "; ").Append(CultureInfo.InvariantCulture, $"object {e.ObjectId}:");
                last = e.ObjectId;
                first = false;
            }

            string name = e.Property?.Name ?? string.Create(CultureInfo.InvariantCulture, $"property {e.PropertyId}");
            text.Append(' ').Append(e.OutFence ? $"{name}=<out-fence>" : string.Create(CultureInfo.InvariantCulture, $"{name}={e.Value}"));
        }

        return first ? "(empty)" : text.ToString();
    }

    /// <summary>
    /// Lays the request out as the kernel reads it (grouped by object) in the request's own arrays. The value of the
    /// k-th out-fence property is left for the commit to point at its fence slot k: its index in
    /// <paramref name="values"/> goes to <paramref name="fenceValueIndexes"/>[k]. Returns the number of objects.
    /// </summary>
    internal int Layout(Span<int> fenceValueIndexes, out ReadOnlySpan<uint> objects, out ReadOnlySpan<uint> counts, out ReadOnlySpan<uint> properties, out Span<ulong> values)
    {
        Grow(ref _properties, _count);
        Grow(ref _values, _count);
        Grow(ref _objects, _count);
        Grow(ref _counts, _count);
        int objectCount = 0, fence = 0, n = 0;
        SortByObject();
        for (int i = 0; i < _count; i++)
        {
            ref Entry e = ref _entries[i];
            if (objectCount == 0 || _objects[objectCount - 1] != e.ObjectId)
            {
                _objects[objectCount] = e.ObjectId;
                _counts[objectCount] = 0;
                objectCount++;
            }

            _counts[objectCount - 1]++;
            _properties[n] = e.PropertyId;
            _values[n] = e.Value;
            if (e.OutFence && fence < fenceValueIndexes.Length)
            {
                fenceValueIndexes[fence++] = n;
            }

            n++;
        }

        objects = _objects.AsSpan(0, objectCount);
        counts = _counts.AsSpan(0, objectCount);
        properties = _properties.AsSpan(0, n);
        values = _values.AsSpan(0, n);
        return objectCount;
    }

    /// <summary>How many out-fences the request asks for.</summary>
    internal int OutFenceCount
    {
        get
        {
            int n = 0;
            for (int i = 0; i < _count; i++)
            {
                n += _entries[i].OutFence ? 1 : 0;
            }

            return n;
        }
    }

    /// <summary>The objects of the out-fence entries, in the order <see cref="Layout"/> gives them their slots.</summary>
    internal void OutFenceObjects(Span<uint> into)
    {
        int k = 0;
        SortByObject();
        for (int i = 0; i < _count; i++)
        {
            if (_entries[i].OutFence)
            {
                into[k++] = _entries[i].ObjectId;
            }
        }
    }

    /// <summary>Keeps the fences a successful commit made, for <see cref="TakeOutFence"/>.</summary>
    internal void KeepFence(uint objectId, SyncFile fence) => (_fences ??= []).Add((objectId, fence));

    /// <summary>Disposes the fences the last commit made that nobody took.</summary>
    internal void DisposeFences()
    {
        if (_fences is { Count: > 0 })
        {
            foreach (var (_, fence) in _fences)
            {
                fence.Dispose();
            }

            _fences.Clear();
        }
    }

    private void Set(uint objectId, uint propertyId, ulong value, DrmProperty? property, bool outFence)
    {
        ArgumentOutOfRangeException.ThrowIfZero(objectId);
        ArgumentOutOfRangeException.ThrowIfZero(propertyId);
        for (int i = 0; i < _count; i++)
        {
            ref Entry e = ref _entries[i];
            if (e.ObjectId == objectId && e.PropertyId == propertyId)
            {
                e = new Entry(objectId, propertyId, value, property ?? e.Property, outFence, e.Order);
                return;
            }
        }

        if (_count == _entries.Length)
        {
            Array.Resize(ref _entries, _count * 2);
        }

        _entries[_count] = new Entry(objectId, propertyId, value, property, outFence, _count);
        _count++;
    }

    /// <summary>
    /// Groups the entries by object, each object's in the order they were added, as the kernel reads them. An
    /// insertion sort in place over a small array, not LINQ, so that a frame's commit allocates nothing.
    /// </summary>
    private void SortByObject()
    {
        for (int i = 1; i < _count; i++)
        {
            Entry x = _entries[i];
            int j = i - 1;
            while (j >= 0 && (_entries[j].ObjectId > x.ObjectId || (_entries[j].ObjectId == x.ObjectId && _entries[j].Order > x.Order)))
            {
                _entries[j + 1] = _entries[j];
                j--;
            }

            _entries[j + 1] = x;
        }
    }

    private static void Grow<T>(ref T[] array, int length)
    {
        if (array.Length < length)
        {
            Array.Resize(ref array, Math.Max(length, array.Length * 2));
        }
    }

    private readonly record struct Entry(uint ObjectId, uint PropertyId, ulong Value, DrmProperty? Property, bool OutFence, int Order);
}
