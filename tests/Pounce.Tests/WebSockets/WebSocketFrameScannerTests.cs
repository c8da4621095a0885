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
}
