using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Pounce.Logging;

/// <summary>
/// Writes the members of a flat JSON line straight into a <see cref="LineBuffer"/>: keys (given with their quotes,
/// colon and leading comma, as UTF-8 literals), numbers, booleans and texts the server made itself as bytes. A string
/// from a request is copied as is when it is printable ASCII without <c>"</c> or <c>\</c> (the usual method, path,
/// address or user agent); any other goes through <see cref="Utf8JsonWriter"/> with the relaxed encoder, so what needs
/// escaping (quotes, backslashes, control characters, U+2028/2029, lone surrogates) is escaped by the library, exactly
/// as when a whole line is written with it.
/// </summary>
/// <remarks>
/// A lifecycle or access line written member by member through <see cref="Utf8JsonWriter"/> cost about twice the text
/// format's line (150-220 ns against 70-110 ns, <c>LifecycleSerializationBenchmarks</c>): its per-member state and
/// escaping checks on keys and values the server already knows to be plain.
/// </remarks>
internal static class JsonBytes
{
    /// <summary>The options of every <see cref="Utf8JsonWriter"/> of Pounce's lines: compact, relaxed escaping.</summary>
    public static readonly JsonWriterOptions Options = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        SkipValidation = true,
    };

    // What the relaxed encoder writes as is among ASCII: space to '~', except '"' and '\' (DEL and controls are escaped).
    private static readonly SearchValues<char> Plain = SearchValues.Create(
        " !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>Whether <paramref name="value"/> is written as is between quotes (no escaping needed).</summary>
    public static bool IsPlain(ReadOnlySpan<char> value) => value.IndexOfAnyExcept(Plain) < 0;

    /// <summary><paramref name="key"/>, then <paramref name="value"/> in decimal.</summary>
    public static void Number(LineBuffer output, ReadOnlySpan<byte> key, long value)
    {
        output.Write(key);
        var span = output.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out var n);
        output.Advance(n);
    }

    /// <summary><paramref name="key"/>, then <c>true</c> or <c>false</c>.</summary>
    public static void Bool(LineBuffer output, ReadOnlySpan<byte> key, bool value)
    {
        output.Write(key);
        output.Write(value ? "true"u8 : "false"u8);
    }

    /// <summary><paramref name="key"/>, then an already encoded text between quotes.</summary>
    public static void Text(LineBuffer output, ReadOnlySpan<byte> key, JsonEncodedText value)
    {
        output.Write(key);
        Quoted(output, value.EncodedUtf8Bytes);
    }

    /// <summary>Bytes the caller knows need no escaping (digits, hex, a timestamp), between quotes.</summary>
    public static void Quoted(LineBuffer output, ReadOnlySpan<byte> plainAscii)
    {
        var span = output.GetSpan(plainAscii.Length + 2);
        span[0] = (byte)'"';
        plainAscii.CopyTo(span[1..]);
        span[plainAscii.Length + 1] = (byte)'"';
        output.Advance(plainAscii.Length + 2);
    }

    /// <summary><paramref name="key"/>, then <paramref name="value"/> as a JSON string, escaped where it must be.</summary>
    public static void String(LineBuffer output, ReadOnlySpan<byte> key, string value)
    {
        output.Write(key);
        StringValue(output, value);
    }

    /// <summary><paramref name="value"/> as a JSON string, escaped where it must be.</summary>
    public static void StringValue(LineBuffer output, string value)
    {
        if (IsPlain(value))
        {
            var span = output.GetSpan(value.Length + 2);
            span[0] = (byte)'"';
            Ascii.FromUtf16(value, span.Slice(1, value.Length), out _);
            span[value.Length + 1] = (byte)'"';
            output.Advance(value.Length + 2);
            return;
        }
        var w = RentWriter(output);
        w.WriteStringValue(value);
        w.Flush();
        ReturnWriter(w);
    }

    /// <summary>
    /// The calling thread's <see cref="Utf8JsonWriter"/> (with <see cref="Options"/>), reset onto
    /// <paramref name="output"/> and taken until <see cref="ReturnWriter"/>: a nested call on the same thread (a state
    /// value's <c>ToString()</c> that logs) gets a writer of its own instead of corrupting the line in progress.
    /// </summary>
    public static Utf8JsonWriter RentWriter(IBufferWriter<byte> output)
    {
        var w = t_writer;
        t_writer = null;
        if (w is null)
            return new Utf8JsonWriter(output, Options);
        w.Reset(output);
        return w;
    }

    /// <summary>Gives the thread's writer back (after its last <see cref="Utf8JsonWriter.Flush"/>).</summary>
    public static void ReturnWriter(Utf8JsonWriter writer) => t_writer = writer;
}
