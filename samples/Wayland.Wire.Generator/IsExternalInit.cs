namespace System.Runtime.CompilerServices;

/// <summary>What the compiler needs for records' init accessors; netstandard2.0 does not have it.</summary>
internal static class IsExternalInit
{
}
