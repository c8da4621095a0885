using System.Runtime.InteropServices;

namespace Pounce.Cli.Hosting;

/// <summary>
/// The first SIGINT/SIGTERM/SIGQUIT is left to the host, which stops gracefully (draining in-flight requests); a
/// second one ends the process at once.
/// </summary>
internal sealed class SignalExit : IDisposable
{
    private readonly PosixSignalRegistration[] _registrations;
    private int _signals;

    public SignalExit()
    {
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGQUIT, OnSignal),
        ];
    }

    private void OnSignal(PosixSignalContext context)
    {
        if (Interlocked.Increment(ref _signals) == 1)
            return; // the host's console lifetime turns this one into a graceful stop
        context.Cancel = true;
        var (name, number) = context.Signal switch
        {
            PosixSignal.SIGINT => ("SIGINT", 2),
            PosixSignal.SIGQUIT => ("SIGQUIT", 3),
            _ => ("SIGTERM", 15),
        };
        Console.Error.WriteLine($"pounce: second signal ({name}): exiting now, without waiting for in-flight requests");
        ExitNow(128 + number);
    }

    /// <summary>
    /// Ends the process without running shutdown handlers (Environment.Exit waits for them, which can take a while
    /// with a host stopping), falling back to Environment.Exit where there is no C library's <c>_exit</c>.
    /// </summary>
    private static void ExitNow(int code)
    {
        if (!OperatingSystem.IsWindows())
        {
            try
            {
                ImmediateExit(code);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
            }
        }
        Environment.Exit(code);
    }

    [DllImport("libc", EntryPoint = "_exit")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern void ImmediateExit(int status);

    public void Dispose()
    {
        foreach (var registration in _registrations)
            registration.Dispose();
    }
}
