using System.Text;

namespace Pounce.Benchmarks;

/// <summary>The request heads the HTTP/1.1 benchmarks parse.</summary>
internal static class RequestHeads
{
    /// <summary>The TechEmpower plaintext request (3 header lines, 104 bytes).</summary>
    public static readonly byte[] TechEmpower = Encoding.ASCII.GetBytes(
        "GET /plaintext HTTP/1.1\r\n" +
        "Host: localhost\r\n" +
        "Accept: text/plain,text/html;q=0.9\r\n" +
        "Connection: keep-alive\r\n" +
        "\r\n");

    /// <summary>A current desktop browser's navigation request: 17 header fields, 956 bytes.</summary>
    public static readonly byte[] Browser = Encoding.ASCII.GetBytes(
        "GET /articles/2026/11/http-servers?page=2&sort=recent HTTP/1.1\r\n" +
        "Host: www.example.com\r\n" +
        "Connection: keep-alive\r\n" +
        "Cache-Control: max-age=0\r\n" +
        "sec-ch-ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\", \"Google Chrome\";v=\"131\"\r\n" +
        "sec-ch-ua-mobile: ?0\r\n" +
        "sec-ch-ua-platform: \"Linux\"\r\n" +
        "Upgrade-Insecure-Requests: 1\r\n" +
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n" +
        "Sec-Fetch-Site: same-origin\r\n" +
        "Sec-Fetch-Mode: navigate\r\n" +
        "Sec-Fetch-User: ?1\r\n" +
        "Sec-Fetch-Dest: document\r\n" +
        "Referer: https://www.example.com/articles/2026/11/http-servers?page=1&sort=recent\r\n" +
        "Accept-Encoding: gzip, deflate, br, zstd\r\n" +
        "Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n" +
        "Cookie: session=5f2b8c1e9a7d4e3f8b6a0c2d1e4f7a9b; theme=dark; _ga=GA1.1.1234567890.1732500000; consent=analytics%3Dno%26ads%3Dno\r\n" +
        "\r\n");

    /// <summary>Offsets splitting <paramref name="head"/> into three segments, each cut in the middle of a line.</summary>
    public static int[] ThreeWaySplit(byte[] head) => [head.Length / 3, 2 * head.Length / 3];
}
