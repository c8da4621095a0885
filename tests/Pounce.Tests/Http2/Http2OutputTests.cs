using System.Buffers;
using System.IO.Pipelines;
using Pounce.Http2;

namespace Pounce.Tests.Http2;

/// <summary>The output side alone, over an in-memory pipe: control frames, frames written by streams, the end.</summary>
public sealed class Http2OutputTests
{
    private static async Task<byte[]> ReadAvailableAsync(PipeReader reader)
    {
        var result = await reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        var bytes = result.Buffer.ToArray();
        reader.AdvanceTo(result.Buffer.End);
        return bytes;
    }

    private static List<Http2FrameHeader> Frames(byte[] bytes)
    {
        var frames = new List<Http2FrameHeader>();
        var sequence = new ReadOnlySequence<byte>(bytes);
        while (Http2FrameReader.TryReadFrame(ref sequence, Http2FrameReader.DefaultMaxFrameSize, out var frame))
            frames.Add(frame.Header);
        Assert.Equal(0, sequence.Length);
        return frames;
    }

    [Fact]
    public async Task ControlFrames_AreQueued_UntilFlushed_InOrder()
    {
        var pipe = new Pipe();
        var output = new Http2Output(pipe.Writer, "", dateSource: null);
        Http2FrameWriter.WriteSettingsAck(output.Control);
        Http2FrameWriter.WritePing(output.Control, 7, ack: true);
        Assert.False(pipe.Reader.TryRead(out _));
        await output.FlushControlAsync();
        var frames = Frames(await ReadAvailableAsync(pipe.Reader));
        Assert.Equal([Http2FrameType.Settings, Http2FrameType.Ping], frames.Select(f => f.Type));
        Assert.Equal(0, output.Control.WrittenCount);
    }

    [Fact]
    public async Task FramesOfWriters_AreSentAtOnce()
    {
        var pipe = new Pipe();
        var output = new Http2Output(pipe.Writer, "", dateSource: null);
        await output.WriteFrameAsync((3, Http2ErrorCode.Cancel), static (w, s) => Http2FrameWriter.WriteRstStream(w, s.Item1, s.Item2));
        var frame = Assert.Single(Frames(await ReadAvailableAsync(pipe.Reader)));
        Assert.Equal(Http2FrameType.RstStream, frame.Type);
        Assert.Equal(3, frame.StreamId);
    }

    [Fact]
    public async Task Finish_SendsTheLastWords_ThenNothingMore()
    {
        var pipe = new Pipe();
        var output = new Http2Output(pipe.Writer, "", dateSource: null);
        Http2FrameWriter.WriteGoAway(output.Control, 1, Http2ErrorCode.NoError);
        await output.FinishAsync();
        Assert.Equal(Http2FrameType.GoAway, Assert.Single(Frames(await ReadAvailableAsync(pipe.Reader))).Type);
        await output.WriteFrameAsync(w => Http2FrameWriter.WritePing(w, 1, ack: false));
        Http2FrameWriter.WritePing(output.Control, 2, ack: false);
        await output.FlushControlAsync();
        pipe.Writer.Complete();
        var rest = await pipe.Reader.ReadAsync();
        Assert.True(rest.Buffer.IsEmpty);
    }

    [Fact]
    public void Closed_IsSticky_AndTheFrameSizeIsThePeers()
    {
        var output = new Http2Output(new Pipe().Writer, "", dateSource: null);
        Assert.False(output.IsClosed);
        Assert.Equal(Http2FrameReader.DefaultMaxFrameSize, output.PeerMaxFrameSize);
        output.PeerMaxFrameSize = 32_768;
        Assert.Equal(32_768, output.PeerMaxFrameSize);
        output.MarkClosed();
        Assert.True(output.IsClosed);
    }

    [Fact]
    public async Task WithTheTransportsScheduler_TheSendRunsAfterTheCommit_AndFramesArrive()
    {
        var scheduler = new Pounce.Transport.SendScheduler();
        var pipe = new Pipe(scheduler.CreateOptions());
        // A reader already waiting, as the transport's send loop is: a flush would run it inline.
        var read = pipe.Reader.ReadAsync().AsTask();
        Assert.False(read.IsCompleted);
        pipe.Writer.Write(new byte[] { 1, 2, 3 });
        var flush = scheduler.FlushHoldingSendAsync(pipe.Writer, default);
        Assert.True(flush.IsCompleted);
        Assert.True(scheduler.IsHolding); // committed, not sent: the caller sends after its lock
        Assert.False(read.IsCompleted);
        scheduler.SendHeld();
        Assert.False(scheduler.IsHolding);
        Assert.True(read.IsCompleted); // the held continuation ran on this thread
        var result = await read.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(3, result.Buffer.Length);
        pipe.Reader.AdvanceTo(result.Buffer.End);

        var output = new Http2Output(pipe.Writer, scheduler, "", dateSource: null);
        var next = pipe.Reader.ReadAsync().AsTask();
        await output.WriteFrameAsync((5, Http2ErrorCode.Cancel), static (w, s) => Http2FrameWriter.WriteRstStream(w, s.Item1, s.Item2));
        Assert.False(scheduler.IsHolding);
        Assert.Equal(1, output.Flushes);
        var bytes = (await next.WaitAsync(TimeSpan.FromSeconds(10))).Buffer.ToArray();
        Assert.Equal(5, Assert.Single(Frames(bytes)).StreamId);
    }

    [Fact]
    public async Task TransportGone_ClosesTheOutput_SoWritersStop()
    {
        var pipe = new Pipe();
        var output = new Http2Output(pipe.Writer, "", dateSource: null);
        await pipe.Reader.CompleteAsync(); // the send loop ended (a failed send, the write timeout's abort)
        Assert.False(output.IsClosed);
        await output.WriteFrameAsync(w => Http2FrameWriter.WritePing(w, 1, ack: false));
        Assert.True(output.IsClosed);
        Assert.Equal(0, output.Flushes);
    }
}
