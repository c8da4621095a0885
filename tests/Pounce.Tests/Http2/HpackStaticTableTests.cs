using System.Text;
using Pounce.Http2;

namespace Pounce.Tests.Http2;

public class HpackStaticTableTests
{
    [Theory]
    [InlineData(1, ":authority", "")]
    [InlineData(2, ":method", "GET")]
    [InlineData(7, ":scheme", "https")]
    [InlineData(8, ":status", "200")]
    [InlineData(14, ":status", "500")]
    [InlineData(16, "accept-encoding", "gzip, deflate")]
    [InlineData(28, "content-length", "")]
    [InlineData(32, "cookie", "")]
    [InlineData(55, "set-cookie", "")]
    [InlineData(61, "www-authenticate", "")]
    public void EntriesMatchRfc7541AppendixA(int index, string name, string value)
    {
        ref readonly HpackStaticEntry entry = ref HpackStaticTable.Get(index);
        Assert.Equal(name, Encoding.ASCII.GetString(entry.Name));
        Assert.Equal(value, Encoding.ASCII.GetString(entry.Value));
    }

    [Fact]
    public void FindReturnsEachEntrysIndexAndFirstNameIndex()
    {
        for (int index = 1; index <= HpackStaticTable.Count; index++)
        {
            ref readonly HpackStaticEntry entry = ref HpackStaticTable.Get(index);
            Assert.Equal(index, HpackStaticTable.Find(entry.Name, entry.Value, out int nameIndex));
            Assert.True(nameIndex <= index);
            Assert.Equal(entry.Name, HpackStaticTable.Get(nameIndex).Name);
        }

        Assert.Equal(0, HpackStaticTable.Find(":status"u8, "201"u8, out int statusName));
        Assert.Equal(8, statusName);
        Assert.Equal(0, HpackStaticTable.Find("x-unknown"u8, ""u8, out int none));
        Assert.Equal(0, none);
        Assert.Equal(0, HpackStaticTable.Find(new byte[100], ""u8, out _));
    }
}
