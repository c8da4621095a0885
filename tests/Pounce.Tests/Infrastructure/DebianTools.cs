using System.Collections.Concurrent;
using System.Diagnostics;

namespace Pounce.Tests.Infrastructure;

/// <summary>
/// The Debian tools some tests run (curl, jq, wrk, h2load, nghttp, sslscan, openssl, rsyslogd, fincore, Python
/// modules). A test that needs one is marked <see cref="ToolFactAttribute"/> or <see cref="ToolTheoryAttribute"/>: when the tool is not
/// found through <c>PATH</c> the test is skipped with a message naming the Debian package, except under
/// <c>CI=true</c>, where it runs and fails (<c>.ci/run</c> installs every package listed here).
/// </summary>
/// <remarks>Shared with tests/Pounce.Cli.Tests as a linked file.</remarks>
internal static class DebianTools
{
    /// <summary>Tool name -> Debian package. A name <c>python3:MODULE</c> is a module /usr/bin/python3 must import.</summary>
    private static readonly Dictionary<string, string> Packages = new(StringComparer.Ordinal)
    {
        ["curl"] = "curl",
        ["jq"] = "jq",
        ["wrk"] = "wrk",
        ["h2load"] = "nghttp2-client",
        ["nghttp"] = "nghttp2-client",
        ["sslscan"] = "sslscan",
        ["openssl"] = "openssl",
        ["rsyslogd"] = "rsyslog",
        ["fincore"] = "util-linux",
        ["python3"] = "python3",
        ["python3:websockets"] = "python3-websockets",
        ["python3:h2"] = "python3-h2",
    };

    private static readonly ConcurrentDictionary<string, string?> Resolved = new(StringComparer.Ordinal);

    /// <summary>True when the environment says it is CI (<c>CI=true</c>): a missing tool fails instead of skipping.</summary>
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The Debian package that provides <paramref name="tool"/>.</summary>
    public static string PackageOf(string tool) =>
        Packages.TryGetValue(tool, out var package) ? package : throw new ArgumentException($"Unknown tool '{tool}': add it to DebianTools.Packages and .ci/run.", nameof(tool));

    /// <summary>
    /// The full path of <paramref name="tool"/> found through <c>PATH</c> (for <c>python3:MODULE</c>, the first
    /// python3 on <c>PATH</c> that imports the module), or null when it is missing.
    /// </summary>
    public static string? Find(string tool)
    {
        _ = PackageOf(tool);
        return Resolved.GetOrAdd(tool, static t =>
        {
            var colon = t.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
                return OnPath(t).FirstOrDefault();
            var module = t[(colon + 1)..];
            foreach (var python in OnPath(t[..colon]))
            {
                if (Imports(python, module))
                    return python;
            }
            return null;
        });
    }

    /// <summary>
    /// The path of <paramref name="tool"/>; when it is missing, an assertion failure naming the Debian package (so
    /// under <c>CI=true</c> a test marked with a tool attribute fails with the package to install).
    /// </summary>
    public static string Require(string tool) =>
        Find(tool) ?? throw new Xunit.Sdk.XunitException(MissingMessage(tool) + (IsCi ? " (CI=true: .ci/run should have installed it)" : ""));

    /// <summary>Why a test needing <paramref name="tools"/> cannot run here, or null when every tool is present.</summary>
    public static string? Missing(IEnumerable<string> tools)
    {
        var missing = new List<string>();
        foreach (var tool in tools)
        {
            if (Find(tool) is null)
                missing.Add(MissingMessage(tool));
        }
        return missing.Count == 0 ? null : string.Join("; ", missing);
    }

    /// <summary>The skip reason for a test needing <paramref name="tools"/>: null when present or under <c>CI=true</c>.</summary>
    public static string? SkipReason(IEnumerable<string> tools) => IsCi ? null : Missing(tools);

    private static string MissingMessage(string tool)
    {
        var colon = tool.IndexOf(':', StringComparison.Ordinal);
        var what = colon < 0 ? $"'{tool}' is not on PATH" : $"no python3 on PATH imports '{tool[(colon + 1)..]}'";
        return $"{what}: install the Debian package {PackageOf(tool)} (apt-get install {PackageOf(tool)})";
    }

    private static IEnumerable<string> OnPath(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
                yield return candidate;
        }
    }

    private static bool Imports(string python, string module)
    {
        try
        {
            using var probe = Process.Start(new ProcessStartInfo(python, ["-c", "import " + module])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            if (!probe.WaitForExit(30_000))
            {
                probe.Kill(entireProcessTree: true);
                return false;
            }
            return probe.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}

/// <summary>
/// A fact that needs Debian tools (names as in <see cref="DebianTools"/>): skipped, naming the package, when one is
/// missing, unless <c>CI=true</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class ToolFactAttribute : FactAttribute
{
    public ToolFactAttribute(params string[] tools)
    {
        if (DebianTools.SkipReason(tools) is { } reason)
            Skip = reason;
    }
}

/// <summary>A theory that needs Debian tools; see <see cref="ToolFactAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class ToolTheoryAttribute : TheoryAttribute
{
    public ToolTheoryAttribute(params string[] tools)
    {
        if (DebianTools.SkipReason(tools) is { } reason)
            Skip = reason;
    }
}
