namespace PrimeCtl;

/// <summary>primectl's exit codes, documented in its --help.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int VerificationFailed = 1;
    public const int Usage = 2;
    public const int NoDevice = 3;
    public const int Failed = 4;
    public const int Cancelled = 130;
}
