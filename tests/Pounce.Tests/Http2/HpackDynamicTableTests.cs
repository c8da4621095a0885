using System.Text;
using Pounce.Http2;

namespace Pounce.Tests.Http2;

public class HpackDynamicTableTests
{
    [Fact]
    public void GrowsAfterMaxSizeIsRaisedAndKeepsOrder()
    {
        var table = new HpackDynamicTable(64); // room for 2 empty entries
        table.SetMaxSize(32 * 1000);
        for (int i = 0; i < 1000; i++)
        {
            table.Insert([], []); // 32 octets each
        }

        Assert.Equal(1000, table.Count);
        Assert.Equal(32_000, table.Size);

        // A 34-octet entry evicts the two oldest.
        table.Insert("n"u8, "v"u8);
        Assert.Equal(999, table.Count);
        Assert.Equal("n", Encoding.ASCII.GetString(table.GetName(1)));
        Assert.Equal((998 * 32) + 34, table.Size);
    }

    [Fact]
    public void WrapsAroundTheRingAndFindsNewestFirst()
    {
        var table = new HpackDynamicTable(3 * 34); // three 2-byte entries
        for (int i = 0; i < 10; i++)
        {
            table.Insert("k"u8, [(byte)('0' + i)]);
        }

        Assert.Equal(3, table.Count);
        Assert.Equal("9", Encoding.ASCII.GetString(table.GetValue(1)));
        Assert.Equal("7", Encoding.ASCII.GetString(table.GetValue(3)));
        Assert.Equal(2, table.Find("k"u8, "8"u8, out int nameIndex));
        Assert.Equal(1, nameIndex);
        Assert.Equal(0, table.Find("k"u8, "1"u8, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => table.GetName(4));
        Assert.Throws<ArgumentOutOfRangeException>(() => table.GetName(0));

        table.SetMaxSize(34);
        Assert.Equal(1, table.Count);
        Assert.Equal("9", Encoding.ASCII.GetString(table.GetValue(1)));
        table.SetMaxSize(0);
        Assert.Equal(0, table.Count);
        Assert.Equal(0, table.Size);
    }
}
