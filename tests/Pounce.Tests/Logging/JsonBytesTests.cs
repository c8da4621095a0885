using System.Text;
using System.Text.Json;
using CsCheck;
using Pounce.Logging;

namespace Pounce.Tests.Logging;

/// <summary>
/// <see cref="JsonBytes"/> writes a request's strings itself when they need no escaping and hands the rest to
/// <see cref="Utf8JsonWriter"/>: whichever path a string takes, the bytes must be the library's.
/// </summary>
public class JsonBytesTests
{
    private static byte[] ByTheLibrary(string value)
    {
        var buffer = new LineBuffer(16);
        using (var w = new Utf8JsonWriter(buffer, JsonBytes.Options))
            w.WriteStringValue(value);
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] ByJsonBytes(string value)
    {
        var buffer = new LineBuffer(16);
        JsonBytes.StringValue(buffer, value);
        return buffer.WrittenSpan.ToArray();
    }

    [Fact]
    public void EveryBmpCharacter_AloneAndBetweenPlainText_IsWrittenAsTheLibraryWritesIt()
    {
        for (var ch = 0; ch <= 0xFFFF; ch++)
        {
            foreach (var value in new[] { ((char)ch).ToString(), "a/" + (char)ch + "?q" })
                Assert.True(ByTheLibrary(value).AsSpan().SequenceEqual(ByJsonBytes(value)), $"U+{ch:X4} in \"{value}\"");
        }
    }

    [Fact]
    public void RandomStrings_AreWrittenAsTheLibraryWritesThem_AndParseBack()
    {
        var chars = Gen.OneOf(Gen.Char[' ', '~'], Gen.Char['\0', '\u00ff'], Gen.Char, Gen.Const('"'), Gen.Const('\\'), Gen.Const('\u2028'), Gen.Const('\ud83d'));
        chars.Array[0, 40].Select(a => new string(a)).Sample(value =>
        {
            var bytes = ByJsonBytes(value);
            Assert.Equal(Encoding.UTF8.GetString(ByTheLibrary(value)), Encoding.UTF8.GetString(bytes));
            Assert.DoesNotContain((byte)'\n', bytes);
            Assert.Equal(JsonDocument.Parse(ByTheLibrary(value)).RootElement.GetString(), JsonDocument.Parse(bytes).RootElement.GetString());
        }, iter: 5000);
    }

    [Fact]
    public void PlainAscii_IsCopiedBetweenQuotes()
    {
        Assert.True(JsonBytes.IsPlain("GET /users/42?x=<a>&y='b' Mozilla/5.0 (X11)"));
        Assert.False(JsonBytes.IsPlain("a\"b"));
        Assert.False(JsonBytes.IsPlain("a\\b"));
        Assert.False(JsonBytes.IsPlain("a\u007fb"));
        Assert.False(JsonBytes.IsPlain("caf\u00e9"));
        Assert.Equal("\"GET\"", Encoding.UTF8.GetString(ByJsonBytes("GET")));
        Assert.Equal("\"\"", Encoding.UTF8.GetString(ByJsonBytes("")));
    }
}
