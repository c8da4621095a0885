using Pounce.WebSockets;

namespace Pounce.Tests.WebSockets;

public sealed class WebSocketFrameScannerTests
{
    private static byte[] Frame(byte first, long length, bool masked)
    {
        var head = new List<byte> { first };
        var maskBit = masked ? (byte)0x80 : (byte)0;
        if (length < 126)
        {
            head.Add((byte)(maskBit | length));
        }
        else if (length <= ushort.MaxValue)
        {
            head.Add((byte)(maskBit | 126));
            head.Add((byte)(length >> 8));
            head.Add((byte)length);
        }
        else
        {
            head.Add((byte)(maskBit | 127));
            for (var i = 7; i >= 0; i--)
                head.Add((byte)(length >> (8 * i)));
        }
        if (masked)
            head.AddRange(new byte[] { 1, 2, 3, 4 });
        // Payload bytes that look like a Close frame head, to prove they are skipped.
        return [.. head, .. Enumerable.Repeat((byte)0x88, (int)length)];
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 1)]
    [InlineData(false, 7)]
    [InlineData(true, 1000)]
    public void Follows_frames_of_every_length_form_split_anywhere(bool masked, int split)
    {
        byte[] stream = [.. Frame(0x81, 5, masked), .. Frame(0x02, 300, masked), .. Frame(0x80, 70_000, masked), .. Frame(0x89, 0, masked)];
        var scanner = new WebSocketFrameScanner();
        for (var i = 0; i < stream.Length; i += split)
            scanner.Scan(stream.AsSpan(i, Math.Min(split, stream.Length - i)));
        Assert.False(scanner.SawClose);
        Assert.True(scanner.AtFrameStart);

        scanner.Scan(Frame(0x88, 2, masked).AsSpan(0, 3));
        Assert.True(scanner.SawClose);
        Assert.False(scanner.AtFrameStart);
    }

    public static TheoryData<string, byte[], bool> Utf8Messages => new()
    {
        { "ASCII", WebSocketWire.Text("hello"), true },
        { "multi-byte, fragmented mid-character, a ping between", [.. WebSocketWire.Frame(0x1, [0xce, 0xba, 0xe1], fin: false),
            .. WebSocketWire.Frame(0x9, [0xff]), .. WebSocketWire.Frame(0x0, [0xbd, 0xb9, 0xf0, 0x9f, 0x98, 0x80])], true },
        { "binary is not checked", WebSocketWire.Frame(0x2, [0xff, 0xfe]), true },
        { "compressed text is not checked", WebSocketWire.Frame(0x1, [0xff], rsv: 0b100), true },
        { "empty text", WebSocketWire.Frame(0x1, []), true },
        { "0xFF", WebSocketWire.Frame(0x1, [0x61, 0xff]), false },
        { "overlong slash", WebSocketWire.Frame(0x1, [0xc0, 0xaf]), false },
        { "overlong 3-byte", WebSocketWire.Frame(0x1, [0xe0, 0x80, 0xaf]), false },
        { "surrogate", WebSocketWire.Frame(0x1, [0xed, 0xa0, 0x80]), false },
        { "above U+10FFFF", WebSocketWire.Frame(0x1, [0xf4, 0x90, 0x80, 0x80]), false },
        { "message ends mid-character", WebSocketWire.Frame(0x1, [0xce]), false },
        { "message ends mid-character after an empty final fragment", [.. WebSocketWire.Frame(0x1, [0xce], fin: false), .. WebSocketWire.Frame(0x0, [])], false },
        { "bad continuation in a later fragment", [.. WebSocketWire.Frame(0x1, [0xce], fin: false), .. WebSocketWire.Frame(0x0, [0x41])], false },
    };

    [Theory]
    [MemberData(nameof(Utf8Messages))]
    public void Utf8_of_text_messages_is_checked_byte_by_byte_across_any_split(string what, byte[] stream, bool valid)
    {
        foreach (var split in new[] { 1, 2, 3, 5, stream.Length })
        {
            var scanner = new WebSocketFrameScanner();
            for (var i = 0; i < stream.Length && !scanner.Invalid; i += split)
                scanner.Scan(stream.AsSpan(i, Math.Min(split, stream.Length - i)), requireMasked: true, validateUtf8: true);
            Assert.True(valid != scanner.SawInvalidUtf8, $"{what}, split {split}");
        }
    }

    [Fact]
    public void Invalid_utf8_is_seen_at_its_byte_before_the_frame_ends()
    {
        var frame = WebSocketWire.Frame(0x1, [0x61, 0x62, 0xff, .. new byte[500]]);
        var scanner = new WebSocketFrameScanner();
        scanner.Scan(frame.AsSpan(0, 2 + 2 + 4 + 2), requireMasked: true, validateUtf8: true);
        Assert.False(scanner.SawInvalidUtf8);
        scanner.Scan(frame.AsSpan(10, 1), requireMasked: true, validateUtf8: true);
        Assert.True(scanner.SawInvalidUtf8);
        Assert.Equal(-1, scanner.InvalidFrameStart);
    }
}
