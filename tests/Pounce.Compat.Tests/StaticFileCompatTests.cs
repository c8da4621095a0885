using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.FileProviders;

namespace Pounce.Compat.Tests;

/// <summary>Static files (UseStaticFiles) with byte ranges and conditional requests, over HTTP/1.1 and HTTP/2.</summary>
public sealed class StaticFileCompatTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pounce-compat-").FullName;
    private readonly byte[] _content = new byte[200_000];

    public StaticFileCompatTests()
    {
        for (var i = 0; i < _content.Length; i++)
            _content[i] = (byte)('a' + (i % 26));
        File.WriteAllBytes(Path.Combine(_root, "data.txt"), _content);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    [MemberData(nameof(ServerKinds.EachWithHttpVersion), MemberType = typeof(ServerKinds))]
    public async Task Whole_file_ranges_and_conditional_requests(ServerKind kind, string version)
    {
        await using var host = await CompatHost.StartAsync(kind, null,
            app => app.UseStaticFiles(new StaticFileOptions { FileProvider = new PhysicalFileProvider(_root) }));
        using var client = host.CreateClient(Version.Parse(version));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        HttpRequestMessage Request(HttpMethod method) => new(method, "/data.txt") { Version = Version.Parse(version), VersionPolicy = HttpVersionPolicy.RequestVersionExact };

        using var whole = await client.GetAsync("/data.txt", cts.Token);
        Assert.Equal(HttpStatusCode.OK, whole.StatusCode);
        Assert.Equal(_content, await whole.Content.ReadAsByteArrayAsync(cts.Token));
        Assert.Equal("bytes", whole.Headers.AcceptRanges.Single());
        var etag = whole.Headers.ETag!;
        var lastModified = whole.Content.Headers.LastModified!.Value;

        using (var range = Request(HttpMethod.Get))
        {
            range.Headers.Range = new RangeHeaderValue(1000, 1099);
            using var partial = await client.SendAsync(range, cts.Token);
            Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
            Assert.Equal(Version.Parse(version), partial.Version);
            Assert.Equal(new ContentRangeHeaderValue(1000, 1099, _content.Length), partial.Content.Headers.ContentRange);
            Assert.Equal(_content.AsSpan(1000, 100).ToArray(), await partial.Content.ReadAsByteArrayAsync(cts.Token));
        }

        using (var suffix = Request(HttpMethod.Get))
        {
            suffix.Headers.Range = new RangeHeaderValue(null, 10);
            using var tail = await client.SendAsync(suffix, cts.Token);
            Assert.Equal(HttpStatusCode.PartialContent, tail.StatusCode);
            Assert.Equal(_content.AsSpan(_content.Length - 10).ToArray(), await tail.Content.ReadAsByteArrayAsync(cts.Token));
        }

        using (var unsatisfiable = Request(HttpMethod.Get))
        {
            unsatisfiable.Headers.Range = new RangeHeaderValue(500_000, 500_010);
            using var none = await client.SendAsync(unsatisfiable, cts.Token);
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, none.StatusCode);
            Assert.Equal($"bytes */{_content.Length}", none.Content.Headers.ContentRange!.ToString());
        }

        using (var byTag = Request(HttpMethod.Get))
        {
            byTag.Headers.IfNoneMatch.Add(etag);
            using var notModified = await client.SendAsync(byTag, cts.Token);
            Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
            Assert.Empty(await notModified.Content.ReadAsByteArrayAsync(cts.Token));
            Assert.Equal(etag, notModified.Headers.ETag);
        }

        using (var byDate = Request(HttpMethod.Get))
        {
            byDate.Headers.IfModifiedSince = lastModified;
            using var notModified = await client.SendAsync(byDate, cts.Token);
            Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
            Assert.Empty(await notModified.Content.ReadAsByteArrayAsync(cts.Token));
        }

        using (var stale = Request(HttpMethod.Get))
        {
            stale.Headers.IfNoneMatch.Add(new EntityTagHeaderValue("\"other\""));
            using var full = await client.SendAsync(stale, cts.Token);
            Assert.Equal(HttpStatusCode.OK, full.StatusCode);
            Assert.Equal(_content.Length, (await full.Content.ReadAsByteArrayAsync(cts.Token)).Length);
        }

        using (var head = Request(HttpMethod.Head))
        {
            using var headers = await client.SendAsync(head, cts.Token);
            Assert.Equal(HttpStatusCode.OK, headers.StatusCode);
            Assert.Equal(_content.Length, headers.Content.Headers.ContentLength);
            Assert.Empty(await headers.Content.ReadAsByteArrayAsync(cts.Token));
        }
    }
}
