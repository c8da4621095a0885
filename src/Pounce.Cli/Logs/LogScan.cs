namespace Pounce.Cli.Logs;

/// <summary>Reads whole inputs (files in the order given, or standard input) into <see cref="LogStats"/>.</summary>
internal static class LogScan
{
    /// <summary>Reads every line of <paramref name="reader"/> into <paramref name="stats"/>; returns at the end of input.</summary>
    public static void ReadAll(LineReader reader, string source, LogStats stats)
    {
        while (true)
        {
            switch (reader.Next(out var line))
            {
                case LineStatus.Line:
                case LineStatus.LastLine:
                    stats.AddLine(line, source, reader.LineNumber);
                    break;
                case LineStatus.TooLong:
                    stats.AddMalformed(source, reader.LineNumber + 1);
                    break;
                default:
                    return;
            }
        }
    }

    /// <summary>Reads every input; a file that cannot be opened is an error (exit code 1) after the others are read.</summary>
    public static bool ReadFiles(IReadOnlyList<string> paths, LogStats stats)
    {
        var ok = true;
        var inputs = paths.Count == 0 ? ["-"] : paths;
        foreach (var path in inputs)
        {
            var name = path == "-" ? LogInput.StdinName : path;
            stats.Sources.Add(name);
            try
            {
                using var stream = LogInput.Open(path);
                var reader = new LineReader(stream);
                ReadAll(reader, name, stats);
                stats.Bytes += reader.BytesRead;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                Console.Error.WriteLine($"pounce logs: {name}: {ex.Message}");
                ok = false;
            }
        }
        return ok;
    }
}
