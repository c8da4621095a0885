using Pounce.Connections;
using Xunit;

namespace Pounce.Tests.Connections;

public class RequestInfoTests
{
    [Theory]
    [InlineData(1L, 0, "1-0")]
    [InlineData(7L, 12, "7-12")]
    [InlineData(1_234_567_890L, 1_000_000, "1234567890-1000000")]
    [InlineData(long.MaxValue, int.MaxValue, "9223372036854775807-2147483647")]
    [InlineData(-5L, 3, "-5-3")]
    [InlineData(5L, -3, "5--3")]
    public void The_request_id_is_the_connection_id_and_the_sequence(long connectionId, int sequence, string expected)
    {
        var r = new RequestInfo();
        r.Reset(connectionId, sequence, streamId: 0);
        Assert.Equal(expected, r.RequestId);
        Span<char> chars = stackalloc char[40];
        Assert.True(r.TryFormatRequestId(chars, out var n));
        Assert.Equal(expected, chars[..n].ToString());
    }
}
