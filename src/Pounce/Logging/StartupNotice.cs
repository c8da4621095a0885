using System.Globalization;

namespace Pounce.Logging;

/// <summary>
/// With <see cref="ServerConfig.LogFile"/> set, every line goes to the file and the terminal would show nothing at all:
/// so the server also writes one start-up line to standard error (where it listens, its workers, where its log goes).
/// </summary>
internal static class StartupNotice
{
    /// <summary>The line, e.g. <c>pounce: listening on http://127.0.0.1:8080 with 2 workers; log file /var/log/app.log</c>.</summary>
    public static string Format(ServerConfig config, IReadOnlyList<string> addresses)
        => string.Create(CultureInfo.InvariantCulture,
            $"pounce: listening on {string.Join(", ", addresses)} with {config.Workers} worker{(config.Workers == 1 ? "" : "s")}; log file {Path.GetFullPath(config.LogFile!)}");

    /// <summary>Writes the line to standard error when the log goes to a file; nothing otherwise.</summary>
    public static void WriteIfLoggingToFile(ServerConfig config, IReadOnlyList<string> addresses)
    {
        if (string.IsNullOrEmpty(config.LogFile))
            return;
        try
        {
            Console.Error.WriteLine(Format(config, addresses));
        }
        catch (IOException)
        {
            // No terminal to tell: the log file still has everything.
        }
    }
}
