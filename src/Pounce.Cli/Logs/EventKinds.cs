namespace Pounce.Cli.Logs;

/// <summary>The lifecycle event names of the logging contract, and the text line <c>LogLinesDropped</c>.</summary>
internal static class EventKinds
{
    /// <summary>The kind an event name stands for; <see cref="LineKind.Other"/> for a name this version does not know.</summary>
    public static LineKind Of(ReadOnlySpan<byte> name) => name.Length switch
    {
        14 when name.SequenceEqual("RequestStarted"u8) => LineKind.RequestStarted,
        15 when name.SequenceEqual("LogLinesDropped"u8) => LineKind.LinesDropped,
        16 when name.SequenceEqual("ConnectionOpened"u8) => LineKind.ConnectionOpened,
        17 when name.SequenceEqual("ResponseCompleted"u8) => LineKind.ResponseCompleted,
        18 when name.SequenceEqual("ClientDisconnected"u8) => LineKind.ClientDisconnected,
        18 when name.SequenceEqual("ConnectionUpgraded"u8) => LineKind.ConnectionUpgraded,
        19 when name.SequenceEqual("ConnectionCompleted"u8) => LineKind.ConnectionCompleted,
        _ => LineKind.Other,
    };
}
