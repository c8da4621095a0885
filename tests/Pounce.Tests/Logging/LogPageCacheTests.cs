using System.Diagnostics;
using System.Globalization;
using Pounce.Logging;
using Pounce.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Pounce.Tests.Logging;

/// <summary>
/// A log file does not fill the page cache: the pages more than 4 MiB behind its end are dropped once written back,
/// and what was written is all in the file. Linux only; residency is read with util-linux's <c>fincore</c>.
/// </summary>
public sealed class LogPageCacheTests : IDisposable
{
    private const int MiB = 1 << 20;
    private readonly string _dir = Directory.CreateTempSubdirectory("pounce-pagecache-").FullName;
    private readonly ITestOutputHelper _output;

    public LogPageCacheTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Pages_behind_the_last_4_MiB_are_dropped_and_every_byte_is_in_the_file()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var path = Path.Combine(_dir, "access.log");
        var block = new byte[MiB];
        using (var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0))
        {
            var pages = LogPageCache.For(file.SafeFileHandle);
            Assert.NotNull(pages);
            for (var i = 0; i < 12; i++)
            {
                block.AsSpan().Fill((byte)('a' + i));
                file.Write(block);
                file.Flush(flushToDisk: true); // written back: the next release can drop it (the writer relies on time)
                pages!.Written(block.Length);
            }
            // 12 MiB written; the releases covered [0, 8 MiB): what stays is the last 4 MiB (a page or so either way).
            if (ResidentBytes(path) is { } resident)
                Assert.InRange(resident, 0, 5L * MiB);
            else
                _output.WriteLine(DebianTools.Missing(["fincore"]) + ": residency not checked, the file's bytes are");
        }
        var written = File.ReadAllBytes(path);
        Assert.Equal(12L * MiB, written.Length);
        for (var i = 0; i < 12; i++)
            Assert.True(written.AsSpan(i * MiB, MiB).IndexOfAnyExcept((byte)('a' + i)) < 0, $"MiB {i} is not what was written");
    }

    [Fact]
    public void A_pipe_turns_it_off_without_harm()
    {
        if (!OperatingSystem.IsLinux())
            return;
        using var process = Process.Start(new ProcessStartInfo("cat") { RedirectStandardInput = true, RedirectStandardOutput = true })!;
        var stdin = (System.IO.Pipes.PipeStream)process.StandardInput.BaseStream;
        var pages = LogPageCache.For(new Microsoft.Win32.SafeHandles.SafeFileHandle(stdin.SafePipeHandle.DangerousGetHandle(), ownsHandle: false));
        Assert.NotNull(pages);
        var reader = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
        var block = new byte[MiB];
        for (var i = 0; i < 3; i++)
        {
            stdin.Write(block);
            pages!.Written(block.Length); // a pipe has no length: it stops asking, and writing goes on
        }
        process.StandardInput.Close();
        Assert.True(reader.Wait(TimeSpan.FromSeconds(30)), "cat did not finish reading");
        Assert.True(process.WaitForExit(30_000), "cat did not exit");
    }

    // Bytes of the file in the page cache, by util-linux's fincore; null when it is not installed (under CI=true a
    // missing fincore fails the test, naming the package, as every Debian tool the tests use).
    private static long? ResidentBytes(string path)
    {
        var fincore = DebianTools.Find("fincore");
        if (fincore is null)
        {
            if (DebianTools.IsCi)
                DebianTools.Require("fincore"); // fails, naming the package
            return null;
        }
        using var process = Process.Start(new ProcessStartInfo(fincore, ["--bytes", "--noheadings", "--output", "RES", path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(30_000), "fincore did not exit");
        return long.Parse(output.Trim(), CultureInfo.InvariantCulture);
    }
}
