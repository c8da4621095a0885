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
    public void A_summary_the_protocol_noted_is_used_only_while_it_describes_the_dictionary()
    {
        var headers = new HeaderDictionary { ["Host"] = "a", ["traceparent"] = "t" };
        var view = new RequestHeaderView(headers);
        // Noted as the server notes: every name the protocol added, and the count after the last one.
        view.Seed(RequestHeaderView.Bit("Host") | RequestHeaderView.Bit("traceparent"), 2);
        Assert.True(view.ContainsKey("TRACEPARENT"));
        Assert.False(view.ContainsKey("tracestate"));

        // A name added without being noted changes the count: the noted summary is not taken, the dictionary's is built.
        view.Reset();
        headers["baggage"] = "b";
        view.Seed(RequestHeaderView.Bit("Host") | RequestHeaderView.Bit("traceparent"), 2);
        Assert.Equal("b", view["Baggage"].ToString());

        // Changed through the view since the reset (same count, another name): the noted summary is stale, not taken.
        view.Reset();
        Assert.True(view.Remove("traceparent"));
        view["x-request-id"] = "r";
        view.Seed(RequestHeaderView.Bit("Host") | RequestHeaderView.Bit("traceparent") | RequestHeaderView.Bit("baggage"), 3);
        Assert.Equal("r", view["X-Request-Id"].ToString());
        Assert.False(view.ContainsKey("traceparent"));

        // A wrong summary that is taken would hide names: the seed is all the view knows until the count changes.
        view.Reset();
        view.Seed(0, headers.Count);
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
            ulong noted = 0;
            var notedCount = 0;
            for (var step = 0; step < 60; step++)
            {
                var name = names[random.Next(names.Length)];
                var value = "v" + random.Next(1000);
                switch (random.Next(10))
                {
                    case 0: // the protocol fills the dictionary directly
                        inner[name] = value;
                        reference[name] = value;
                        break;
                    case 8: // the protocol fills it and notes the name, as HTTP/1.1 parsing does
                        inner[name] = value;
                        reference[name] = value;
                        noted |= RequestHeaderView.Bit(name);
                        notedCount = inner.Count;
                        break;
                    case 9: // the server hands the noted summary over before the application runs
                        view.Seed(noted, notedCount);
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
                    case 4 when random.Next(10) == 0: // a new request, as the server resets
                        inner.Clear();
                        reference.Clear();
                        view.Reset();
                        noted = 0;
                        notedCount = 0;
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
