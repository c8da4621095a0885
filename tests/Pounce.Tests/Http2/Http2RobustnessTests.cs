using System.Buffers;
using Pounce.Http2;

namespace Pounce.Tests.Http2;

/// <summary>Random input must end in success or in the protocol's own exception type, never in anything else.</summary>
public class Http2RobustnessTests
{
    [Fact]
    public void RandomHeaderBlocksOnlyFailWithHpackDecodingException()
    {
        var random = new Random(20250);
        byte[] interesting = [0x00, 0x10, 0x20, 0x3F, 0x40, 0x7F, 0x80, 0x81, 0xBE, 0xBF, 0xFF, 0xE1, 0x1F];
        for (int round = 0; round < 3000; round++)
        {
            byte[] block = new byte[random.Next(0, 64)];
            for (int i = 0; i < block.Length; i++)
            {
                block[i] = random.Next(3) == 0 ? interesting[random.Next(interesting.Length)] : (byte)random.Next(256);
            }

            var decoder = new HpackDecoder(maxHeaderTableSize: random.Next(2) == 0 ? 4096 : 64, maxHeaderListSize: random.Next(40, 2000));
            var handler = new CountingHeaderHandler();
            try
            {
                int split = block.Length == 0 ? 0 : random.Next(block.Length);
                decoder.Decode(block.AsSpan(0, split), endHeaders: false, handler);
                decoder.Decode(block.AsSpan(split), endHeaders: true, handler);
                decoder.Decode(block, endHeaders: true, handler); // again, against the updated table
            }
            catch (HpackDecodingException)
            {
            }
        }
    }

    [Fact]
    public void MutatedValidBlocksOnlyFailWithHpackDecodingException()
    {
        byte[][] seeds =
        [
            Http2TestSupport.Hex("828684418cf1e3c2e5f23a6ba0ab90f4ff"),
            Http2TestSupport.Hex("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"),
            Http2TestSupport.Hex("488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3"),
            Http2TestSupport.Hex("400a637573746f6d2d6b65790d637573746f6d2d686561646572"),
        ];
        var random = new Random(7541);
        for (int round = 0; round < 5000; round++)
        {
            byte[] block = (byte[])seeds[random.Next(seeds.Length)].Clone();
            for (int flips = random.Next(1, 4); flips > 0; flips--)
            {
                block[random.Next(block.Length)] ^= (byte)(1 << random.Next(8));
            }

            var decoder = new HpackDecoder(maxHeaderTableSize: 256, maxHeaderListSize: random.Next(100, 4000));
            var handler = new CountingHeaderHandler();
            try
            {
                for (int i = 0; i < block.Length; i += 3)
                {
                    decoder.Decode(block.AsSpan(i, Math.Min(3, block.Length - i)), endHeaders: false, handler);
                }

                decoder.Decode(ReadOnlySpan<byte>.Empty, endHeaders: true, handler);
                Assert.True(handler.Bytes + (32L * handler.Count) <= decoder.MaxHeaderListSize);
            }
            catch (HpackDecodingException)
            {
            }
        }
    }

    [Fact]
    public void RandomFramesOnlyFailWithHttp2ProtocolException()
    {
        var random = new Random(9113);
        for (int round = 0; round < 5000; round++)
        {
            byte[] payload = new byte[random.Next(0, 20)];
            random.NextBytes(payload);
            var type = (Http2FrameType)random.Next(0, 11);
            var flags = (Http2FrameFlags)random.Next(256);
            int streamId = random.Next(3) == 0 ? 0 : random.Next(1, 10);
            var frame = new Http2Frame(new Http2FrameHeader(payload.Length, type, flags, streamId), new ReadOnlySequence<byte>(payload));
            try
            {
                switch (type)
                {
                    case Http2FrameType.Data: Http2DataFrame.Parse(frame); break;
                    case Http2FrameType.Headers: Http2HeadersFrame.Parse(frame); break;
                    case Http2FrameType.Priority: Http2PriorityFrame.Parse(frame); break;
                    case Http2FrameType.RstStream: Http2RstStreamFrame.Parse(frame); break;
                    case Http2FrameType.Settings: new Http2Settings().Apply(Http2SettingsFrame.Parse(frame)); break;
                    case Http2FrameType.PushPromise: Http2PushPromiseFrame.Parse(frame, receivedByServer: random.Next(2) == 0); break;
                    case Http2FrameType.Ping: Http2PingFrame.Parse(frame); break;
                    case Http2FrameType.GoAway: Http2GoAwayFrame.Parse(frame); break;
                    case Http2FrameType.WindowUpdate: Http2WindowUpdateFrame.Parse(frame); break;
                    case Http2FrameType.Continuation: Http2ContinuationFrame.Parse(frame); break;
                    default: Assert.False(frame.Header.IsKnownType); break;
                }
            }
            catch (Http2ProtocolException)
            {
            }
        }
    }
}
