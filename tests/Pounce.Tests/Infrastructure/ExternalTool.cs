using System.Diagnostics;

namespace Pounce.Tests.Infrastructure;

/// <summary>Runs a real client program (nghttp, h2load, curl, ...) against a test server, bounded in time.</summary>
internal static class ExternalTool
{
    /// <summary>
    /// Runs <paramref name="file"/> with <paramref name="arguments"/> and returns its exit code and its stdout
    /// followed by its stderr. Kills the process tree and throws <see cref="TimeoutException"/> after
    /// <paramref name="timeout"/> (30 s by default). <paramref name="file"/> is a tool name of
    /// <see cref="DebianTools"/> (found through PATH; missing: a failure naming the Debian package). With
    /// <paramref name="stdin"/>, that text is the program's standard input (then closed).
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string file, string arguments, TimeSpan? timeout = null, string? stdin = null)
    {
        var info = new ProcessStartInfo(DebianTools.Require(file), arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
        };
        using var process = Process.Start(info)!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
        }
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {arguments} did not exit within {limit.TotalSeconds:0} s");
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}
