using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using System.Runtime.InteropServices;
using Pounce.BenchApp;

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync("Pounce.BenchApp: " + e.Message);
    await Console.Error.WriteLineAsync("Run with --help for the options.");
    return 2;
}

if (options.ShowHelp)
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}

if (options.Server == ServerKind.Kestrel && options.PounceOnlyFlags.Count > 0)
    await Console.Error.WriteLineAsync($"Pounce.BenchApp: ignored for Kestrel: {string.Join(", ", options.PounceOnlyFlags)}");

var app = options.App == BenchAppKind.Core ? CoreApp.Build(options) : RealisticApp.Build(options);

try
{
    await app.StartAsync();
}
catch (Exception e)
{
    await Console.Error.WriteLineAsync($"Pounce.BenchApp: {options.Server} failed to start: {e.GetType().Name}: {e.Message}");
    return 1;
}

var bound = BoundAddress(app.Services.GetRequiredService<IServer>(), options.Port);
if (bound is null)
{
    await Console.Error.WriteLineAsync(
        $"Pounce.BenchApp: {options.Server} did not report its bound address (IServerAddressesFeature); pass --port N instead of 0.");
    await app.StopAsync();
    return 1;
}

Console.Out.WriteLine($"Listening on {bound}");
Console.Out.Flush();

// SIGUSR1 prints the bytes this process has allocated so far ("allocated_bytes=N" on stderr): run.sh reads it before
// and after a measured run and divides the difference by the requests served (allocations per request).
// With BENCH_ALLOC_TYPES=1 it also lists the types the runtime's allocation sampling saw since the previous SIGUSR1.
using var sampler = AllocationSampler.StartIfRequested();
using var allocationReport = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create((PosixSignal)10, context =>
{
    context.Cancel = true;
    if (sampler is not null)
    {
        Console.Error.Write(sampler.Report(40));
        sampler.Reset();
    }
    Console.Error.WriteLine($"allocated_bytes={GC.GetTotalAllocatedBytes(precise: true)}");
    Console.Error.Flush();
});

await app.WaitForShutdownAsync();
return 0;

static string? BoundAddress(IServer server, int requestedPort)
{
    var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses;
    if (addresses is not null)
    {
        foreach (var a in addresses)
        {
            if (Uri.TryCreate(a, UriKind.Absolute, out var uri) && uri.Port > 0)
                return $"{uri.Scheme}://127.0.0.1:{uri.Port}";
        }
    }

    // A server that does not fill the feature in: the port is still known when it was given,
    // and on Linux a free port it bound can be read back from the process's own listening sockets.
    if (requestedPort != 0)
        return $"http://127.0.0.1:{requestedPort}";
    var listening = ListeningPortOfThisProcess();
    return listening > 0 ? $"http://127.0.0.1:{listening}" : null;
}

// The port of a TCP socket of this process listening on 127.0.0.1, from /proc (Linux only; 0 if none).
static int ListeningPortOfThisProcess()
{
    try
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            var target = new FileInfo(fd).LinkTarget;
            if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal))
                inodes.Add(target["socket:[".Length..^1]);
        }

        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length > 9 && f[3] == "0A" && f[1].StartsWith("0100007F:", StringComparison.Ordinal) && inodes.Contains(f[9]))
                return Convert.ToInt32(f[1]["0100007F:".Length..], 16);
        }
    }
    catch (IOException)
    {
    }
    catch (UnauthorizedAccessException)
    {
    }
    return 0;
}
