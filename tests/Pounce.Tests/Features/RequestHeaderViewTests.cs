using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Pounce.Features;
using Xunit;

namespace Pounce.Tests.Features;

/// <summary>
/// The application's view of the request headers answers exactly as the protocol's dictionary does, whatever mix of
/// changes (by the protocol, directly, or by the application, through the view) came before; it only answers absent
/// names faster.
/// </summary>
public sealed class RequestHeaderViewTests
{
    [Fact]
    public void Absent_names_are_absent_and_present_ones_found_in_any_case()
    {
        var headers = new HeaderDictionary { ["Host"] = "example.com", ["User-Agent"] = "wrk" };
        var view = new RequestHeaderView(headers);
        foreach (var absent in new[] { "traceparent", "tracestate", "baggage", "Request-Id", "Correlation-Context", "" })
        {
            Assert.False(view.TryGetValue(absent, out _));
            Assert.False(view.ContainsKey(absent));
            Assert.Equal(StringValues.Empty, view[absent]);
        }
        Assert.Equal("example.com", view["HOST"].ToString());
        Assert.Equal("wrk", view["user-agent"].ToString());
        Assert.Null(view.ContentLength);
    }

    [Fact]
    public void Names_the_protocol_adds_after_a_lookup_are_found()
    {
        var headers = new HeaderDictionary { ["Host"] = "a" };
        var view = new RequestHeaderView(headers);
        Assert.False(view.ContainsKey("traceparent"));
        headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        Assert.True(view.TryGetValue("TraceParent", out var value));
        Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", value.ToString());
        view.Reset();
        headers.Clear();
        Assert.False(view.ContainsKey("traceparent"));
        headers.ContentLength = 12;
        Assert.Equal(12, view.ContentLength);
    }

    [Fact]
    public void Changes_through_the_view_are_seen_and_a_removed_name_is_gone()
    {
        var view = new RequestHeaderView(new HeaderDictionary { ["Host"] = "a" });
        Assert.False(view.ContainsKey("X-Forwarded-For"));
        view.Add("X-Forwarded-For", "10.0.0.1");
        view["x-request-id"] = "r1";
        view.ContentLength = 5;
        Assert.Equal("10.0.0.1", view["x-forwarded-for"].ToString());
        Assert.True(view.ContainsKey("X-Request-Id"));
        Assert.Equal(5, view.ContentLength);
        Assert.True(view.Remove("x-forwarded-for"));
        Assert.False(view.ContainsKey("X-Forwarded-For"));
        view.Clear();
        Assert.Empty(view);
        Assert.False(view.ContainsKey("Host"));
    }

    [Fact]
    public void Random_changes_and_lookups_agree_with_the_dictionary()
    {
        string[] names =
        [
            "Host", "host", "HOST", "traceparent", "TraceParent", "tracestate", "baggage", "Request-Id", "request-id",
            "Content-Length", "content-length", "Accept", "accept-encoding", "Cookie", "X-A", "x-a", "X-B", "é-header",
            "É-HEADER", "Ωmega", "ωMEGA", "a", "A", "ab", "ba", "header-with-a-long-name-z", "HEADER-WITH-A-LONG-NAME-Z",
            "ς-final", "Σ-FINAL", "σ-final",
        ];
        var random = new Random(20261205);
        for (var trial = 0; trial < 300; trial++)
        {
            var inner = new HeaderDictionary();
            var reference = new HeaderDictionary();
            var view = new RequestHeaderView(inner);
            for (var step = 0; step < 60; step++)
            {
                var name = names[random.Next(names.Length)];
                var value = "v" + random.Next(1000);
                switch (random.Next(8))
                {
                    case 0: // the protocol fills the dictionary directly
                        inner[name] = value;
                        reference[name] = value;
                        break;
                    case 1:
                        view[name] = value;
                        reference[name] = value;
                        break;
                    case 2:
                        Assert.Equal(reference.Remove(name), view.Remove(name));
                        break;
                    case 3 when random.Next(10) == 0:
                        view.Clear();
                        reference.Clear();
                        break;
                    case 4 when random.Next(10) == 0:
                        view.Reset();
                        break;
                    case 5:
                        if (!reference.ContainsKey(name))
                        {
                            view.Add(name, value);
                            reference.Add(name, value);
                        }
                        break;
                    default:
                        Assert.Equal(reference.TryGetValue(name, out var expected), view.TryGetValue(name, out var actual));
                        Assert.Equal(expected, actual);
                        Assert.Equal(reference.ContainsKey(name), view.ContainsKey(name));
                        Assert.Equal(reference[name], view[name]);
                        break;
                }
                Assert.Equal(reference.Count, view.Count);
            }
            foreach (var name in names)
                Assert.Equal(reference.ContainsKey(name), view.ContainsKey(name));
        }
    }
}
