using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Pounce.Logging;

/// <summary>The lower-case level names every Pounce line uses (<c>debug</c>, <c>info</c>, <c>warning</c>, ...).</summary>
internal static class LogLevelNames
{
    private static readonly string[] Strings = ["trace", "debug", "info", "warning", "error", "critical", "none"];
    private static readonly JsonEncodedText[] Json = Array.ConvertAll(Strings, s => JsonEncodedText.Encode(s));
    private static readonly byte[][] Utf8 = Array.ConvertAll(Strings, s => System.Text.Encoding.ASCII.GetBytes(s));

    private static int Index(LogLevel level) => level is >= LogLevel.Trace and <= LogLevel.None ? (int)level : (int)LogLevel.None;

    /// <summary>The name of a level.</summary>
    public static string Name(LogLevel level) => Strings[Index(level)];

    /// <summary>The name of a level, encoded for <see cref="Utf8JsonWriter"/>.</summary>
    public static JsonEncodedText JsonName(LogLevel level) => Json[Index(level)];

    /// <summary>The name of a level as ASCII bytes.</summary>
    public static ReadOnlySpan<byte> Utf8Name(LogLevel level) => Utf8[Index(level)];
}
