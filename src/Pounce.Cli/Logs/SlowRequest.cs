namespace Pounce.Cli.Logs;

/// <summary>One request kept in the list of the slowest.</summary>
internal sealed record SlowRequest(long Timestamp, string RequestId, long ConnectionId, long WorkerId, string Method, string Path, long Status, long DurationMicros, bool Disconnected);
