using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace Pounce.Cli.Tests;

/// <summary>
/// The real <c>pounce</c> command, run as <c>dotnet Pounce.Cli.dll ...</c>, with its standard output and error
/// collected line by line. Waits are bounded and driven by output arriving (no sleeps); <see cref="DisposeAsync"/>
/// kills the process if it is still running.
/// </summary>
internal sealed partial class PounceProcess : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly object _gate = new();
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private PounceProcess(Process process)
    {
        _process = process;
    }

    public static string CliDll => Metadata("PounceCliDll");

    public static string HelloAppDll => Metadata("HelloAppDll");

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public IReadOnlyList<string> StdoutLines
    {
        get
        {
            lock (_gate)
                return [.. _stdout];
        }
    }

    public IReadOnlyList<string> StderrLines
    {
        get
        {
            lock (_gate)
                return [.. _stderr];
        }
    }

    /// <summary>Starts <c>pounce</c> with these arguments, in <paramref name="workingDirectory"/>, with these extra environment variables.</summary>
    public static PounceProcess Start(IEnumerable<string> args, string? workingDirectory = null, IDictionary<string, string>? environment = null)
    {
        var cli = CliDll;
        Assert.True(File.Exists(cli), $"the pounce command is not built at {cli}");
        var psi = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        psi.ArgumentList.Add(cli);
        foreach (var arg in args)
            psi.ArgumentList.Add(arg);

        // The test decides every setting: nothing leaks in from the environment the tests run in.
        foreach (var key in psi.Environment.Keys.ToList())
        {
            // (Except the internal switch that runs the app on Kestrel, for checking the harness before the server
            // exists: assertions that the response came from Pounce still fail under it.)
            if ((key.StartsWith("POUNCE_", StringComparison.OrdinalIgnoreCase))
                || key.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase)
                || key.Equals("DOTNET_URLS", StringComparison.OrdinalIgnoreCase)
                || key.Equals("DOTNET_APPLICATIONNAME", StringComparison.OrdinalIgnoreCase))
            {
                psi.Environment.Remove(key);
            }
        }
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
                psi.Environment[key] = value;
        }

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var pounce = new PounceProcess(process);
        process.OutputDataReceived += (_, e) => pounce.OnLine(pounce._stdout, e.Data, pounce._stdoutClosed);
        process.ErrorDataReceived += (_, e) => pounce.OnLine(pounce._stderr, e.Data, pounce._stderrClosed);
        process.Exited += (_, _) => pounce.Signal();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return pounce;
    }

    /// <summary>Runs <c>pounce</c> to completion (for commands that end by themselves, like <c>config show</c>).</summary>
    public static async Task<(int ExitCode, IReadOnlyList<string> Stdout, IReadOnlyList<string> Stderr)> RunAsync(
        IEnumerable<string> args, string? workingDirectory = null, IDictionary<string, string>? environment = null)
    {
        await using var pounce = Start(args, workingDirectory, environment);
        var code = await pounce.WaitForExitAsync(StartTimeout);
        return (code, pounce.StdoutLines, pounce.StderrLines);
    }

    private void OnLine(List<string> lines, string? line, TaskCompletionSource closed)
    {
        if (line is null)
        {
            closed.TrySetResult();
        }
        else
        {
            lock (_gate)
                lines.Add(line);
        }
        Signal();
    }

    private void Signal()
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>
    /// Waits until <paramref name="condition"/> holds over the output so far, re-checking whenever a line arrives.
    /// Fails with <paramref name="what"/> and the output's tail on timeout, or if the process exits first.
    /// </summary>
    public async Task<T> WaitForAsync<T>(Func<PounceProcess, T?> condition, TimeSpan timeout, string what) where T : class
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            Task changed;
            lock (_gate)
                changed = _changed.Task;
            if (condition(this) is { } result)
                return result;
            if (_process.HasExited && _stdoutClosed.Task.IsCompleted && _stderrClosed.Task.IsCompleted)
                Assert.Fail($"pounce exited with code {_process.ExitCode} before {what}.\n{Tail()}");
            var left = timeout - deadline.Elapsed;
            if (left <= TimeSpan.Zero)
                Assert.Fail($"timed out after {timeout.TotalSeconds:0} s waiting for {what}.\n{Tail()}");
            await Task.WhenAny(changed, Task.Delay(left));
        }
    }

    /// <summary>Waits for the start-up line and returns the first address it names, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public async Task<Uri> WaitForAddressAsync()
    {
        var address = await WaitForAsync(p =>
        {
            foreach (var line in p.StdoutLines)
            {
                if (!line.Contains("listening on", StringComparison.OrdinalIgnoreCase))
                    continue;
                var match = AddressPattern().Match(line);
                if (match.Success)
                    return match.Value;
            }
            return null;
        }, StartTimeout, "the start-up line naming the bound address ('listening on http://...')");
        return new Uri(address);
    }

    /// <summary>Waits for the process to end; kills it and fails if it does not within <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (OperationCanceledException)
        {
            Kill();
            Assert.Fail($"pounce did not exit within {timeout.TotalSeconds:0} s.\n{Tail()}");
        }
        return _process.ExitCode;
    }

    /// <summary>Sends a POSIX signal (SIGTERM by default) to the process.</summary>
    public async Task SignalAsync(string signal = "TERM")
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
        })!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>The last lines of output, for failure messages.</summary>
    public string Tail(int lines = 40)
    {
        var sb = new StringBuilder();
        sb.Append("--- stdout (last lines) ---\n");
        foreach (var line in StdoutLines.TakeLast(lines))
            sb.Append(line).Append('\n');
        sb.Append("--- stderr (last lines) ---\n");
        foreach (var line in StderrLines.TakeLast(lines))
            sb.Append(line).Append('\n');
        return sb.ToString();
    }

    private void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    private static string DotnetHost()
    {
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host))
            return host;
        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet")
            return current;
        return "dotnet";
    }

    private static string Metadata(string key)
    {
        var value = typeof(PounceProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;
        return Path.GetFullPath(value);
    }

    [GeneratedRegex(@"https?://[A-Za-z0-9\.\-\[\]:]+:\d+")]
    private static partial Regex AddressPattern();
}
