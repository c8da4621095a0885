using System.IO.Compression;

namespace Pounce.Cli.Logs;

/// <summary>Opens the logs to read: files (gzip-compressed ones decompressed, by their first bytes) or standard input.</summary>
internal static class LogInput
{
    /// <summary>The name standard input goes by in messages.</summary>
    public const string StdinName = "(stdin)";

    /// <summary>Opens <paramref name="path"/> for reading, shared with a writer still appending to it; "-" is standard input.</summary>
    public static Stream Open(string path)
    {
        if (path == "-")
            return Console.OpenStandardInput();
        var file = OpenShared(path);
        if (IsGzip(file))
            return new GZipStream(file, CompressionMode.Decompress);
        return file;
    }

    /// <summary>Opens a file for reading while it is written, renamed or deleted by others.</summary>
    public static FileStream OpenShared(string path)
        => new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);

    private static bool IsGzip(FileStream file)
    {
        Span<byte> magic = stackalloc byte[2];
        var n = file.Read(magic);
        file.Position = 0;
        return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    }
}
