namespace Pounce.Hosting;

/// <summary>
/// The server cannot start as configured (a missing or unreadable certificate, a bad URL, an endpoint setting Pounce
/// cannot honour). The message is one line naming the setting; the <c>pounce</c> command exits 2 with it.
/// </summary>
public sealed class PounceConfigurationException : InvalidOperationException
{
    /// <summary>Creates the exception with its one-line message.</summary>
    public PounceConfigurationException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
