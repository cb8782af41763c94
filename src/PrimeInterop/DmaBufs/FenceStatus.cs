namespace PrimeInterop;

/// <summary>The state of a fence, or of a sync_file as a whole (<c>status</c> in sync_file.h).</summary>
public enum FenceStatus
{
    /// <summary>Signalled with an error (the error code is given alongside).</summary>
    Error = -1,

    /// <summary>Not signalled yet.</summary>
    Active = 0,

    /// <summary>Signalled.</summary>
    Signaled = 1,
}
