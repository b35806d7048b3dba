using System.IO.Pipelines;
using Akka.Streams;
using Akka.Streams.Stage;
using PgBouncerActors.Hosting;
using PgBouncerActors.Protocol.Framing;

namespace PgBouncerActors.Framing;

/// <summary>
/// What the next frame is expected to be (an untyped startup packet, or a typed message up to a
/// length), and the pipe to read it from: the pipe travels with the request so that the graph
/// holds nothing of one connection and one fused blueprint serves every conversation.
/// </summary>
internal readonly record struct FrameRequest(PipeReader Reader, bool StartupPacket, long MaxFrameLength)
{
    public static FrameRequest Startup(PipeReader reader) => new(reader, true, 0);

    public static FrameRequest Message(PipeReader reader, long maxFrameLength) => new(reader, false, maxFrameLength);
}

/// <summary>
/// The Akka.Streams stage around the one frame decoder (<see cref="FrameReader"/>): for each
/// request it takes in, it reads exactly one PostgreSQL frame from the pipe and emits it as a
/// message. It reads nothing ahead, so after a conversation the pipe is exactly where the last
/// frame ended and the proxy loops go on from there. The bytes examined and the bytes consumed
/// are kept apart: a partial frame is left in the pipe, not copied, until the rest has come.
/// Errors are typed: an oversized, negative or truncated frame fails the stream with the
/// decoder's own <see cref="FramingException"/>; a peer that closes between frames completes it.
/// </summary>
internal sealed class FrameDecoderStage : GraphStage<FlowShape<FrameRequest, PgMessage>>
{
    private readonly Inlet<FrameRequest> _in = new("frames.requests");
    private readonly Outlet<PgMessage> _out = new("frames.out");

    public override FlowShape<FrameRequest, PgMessage> Shape => new(_in, _out);

    protected override Attributes InitialAttributes { get; } = Attributes.CreateName("pg-frame-decoder");

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : GraphStageLogic
    {
        private readonly FrameDecoderStage _stage;
        private Action<Decoded>? _onDecoded;
        private PipeReader? _reader; // the pipe of the request being read
        private volatile bool _waiting;

        public Logic(FrameDecoderStage stage) : base(stage.Shape)
        {
            _stage = stage;
            SetHandler(stage._in, onPush: () => Read(Grab(stage._in)), onUpstreamFinish: CompleteStage);
            SetHandler(stage._out, onPull: () => Pull(stage._in), onDownstreamFinish: _ => CompleteStage());
        }

        public override void PreStart() => _onDecoded = GetAsyncCallback<Decoded>(Deliver);

        public override void PostStop()
        {
            if (_waiting)
            {
                _reader?.CancelPendingRead(); // a read still waiting on the socket ends with the stream
            }
        }

        private void Read(FrameRequest request)
        {
            _reader = request.Reader;
            var reading = ReadFrameAsync(request.Reader, request);
            if (reading.IsCompletedSuccessfully)
            {
                Deliver(reading.Result);
                return;
            }

            _waiting = true;
            // Continued where the bytes arrived (a socket's completion): the graph, and the session the frame
            // continues, run next on that thread rather than waking a pool thread for each (HandOffExecutor).
            HandOffExecutor.ContinueAsTurn(reading.AsTask(), static (done, logic) =>
            {
                logic._waiting = false;
                logic._onDecoded!(done.IsCompletedSuccessfully ? done.Result : new Decoded(null, done.Exception?.GetBaseException()));
            }, this);
        }

        private void Deliver(Decoded decoded)
        {
            _reader = null; // a kept graph holds nothing of the connection it served
            if (decoded.Message is not null)
            {
                Push(_stage._out, decoded.Message);
            }
            else if (decoded.Failure is not null)
            {
                FailStage(decoded.Failure);
            }
            else
            {
                CompleteStage();
            }
        }
    }

    /// <summary>One frame, or why there is none: a failure, or (both null) a peer that closed between frames.</summary>
    private sealed record Decoded(PgMessage? Message, Exception? Failure);

    /// <summary>
    /// Reads until one whole frame is in the pipe, off the stage's turn. The pipe is advanced here,
    /// whatever becomes of the stage, so it is never left in the middle of a read.
    /// </summary>
    private static async ValueTask<Decoded> ReadFrameAsync(PipeReader reader, FrameRequest request)
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await reader.ReadAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                return new Decoded(null, e);
            }

            if (Decode(reader, result, request) is { } decoded)
            {
                return decoded;
            }
        }
    }

    /// <returns>The outcome, or null when the frame is not whole yet (the examined bytes are not read again).</returns>
    private static Decoded? Decode(PipeReader reader, ReadResult result, FrameRequest request)
    {
        var buffer = result.Buffer;
        var consumed = buffer.Start;
        var examined = buffer.End;
        try
        {
            var whole = request.StartupPacket
                ? FrameReader.TryReadStartupPacket(ref buffer, out var frame)
                : FrameReader.TryReadMessage(ref buffer, request.MaxFrameLength, out frame);
            if (whole)
            {
                consumed = buffer.Start;
                examined = consumed;
                return new Decoded(frame.ToMessage(), null);
            }

            return result.IsCompleted ? new Decoded(null, buffer.IsEmpty ? null : new TruncatedFrameException(buffer.Length))
                : result.IsCanceled ? new Decoded(null, new OperationCanceledException("the read was cancelled"))
                : null;
        }
        catch (FramingException e)
        {
            return new Decoded(null, e);
        }
        finally
        {
            reader.AdvanceTo(consumed, examined);
        }
    }
}
