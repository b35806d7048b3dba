using System.IO.Pipelines;
using Akka.Streams;
using Akka.Streams.Stage;

namespace PgBouncerActors.Framing;

/// <summary>Composed messages to write, the pipe they go to (so the graph holds no connection of its own), and who waits until they are flushed.</summary>
internal sealed record OutgoingFrames(PipeWriter Writer, ReadOnlyMemory<byte> Bytes, TaskCompletionSource Written);

/// <summary>
/// The Akka.Streams sink onto a socket's <see cref="PipeWriter"/>: each element is written and
/// flushed before the next is pulled, so the socket's own backpressure is the stream's. A write
/// to a closed peer fails the element's waiter and the stream with an IOException.
/// </summary>
internal sealed class PipeWriterSink : GraphStage<SinkShape<OutgoingFrames>>
{
    private readonly Inlet<OutgoingFrames> _in = new("frames.to-pipe");

    public override SinkShape<OutgoingFrames> Shape => new(_in);

    protected override Attributes InitialAttributes { get; } = Attributes.CreateName("pg-pipe-writer");

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : GraphStageLogic
    {
        private readonly PipeWriterSink _stage;
        private Action<(Task<FlushResult> Flush, OutgoingFrames Frames)>? _onFlushed;

        public Logic(PipeWriterSink stage) : base(stage.Shape)
        {
            _stage = stage;
            SetHandler(stage._in, onPush: () => Write(Grab(stage._in)));
        }

        public override void PreStart()
        {
            _onFlushed = GetAsyncCallback<(Task<FlushResult> Flush, OutgoingFrames Frames)>(flushed => Settle(flushed.Flush, flushed.Frames));
            Pull(_stage._in);
        }

        private void Write(OutgoingFrames frames)
        {
            var flush = frames.Writer.WriteAsync(frames.Bytes);
            if (flush.IsCompleted)
            {
                Settle(flush.AsTask(), frames);
                return;
            }

            flush.AsTask().ContinueWith(done => _onFlushed!((done, frames)), TaskContinuationOptions.ExecuteSynchronously);
        }

        private void Settle(Task<FlushResult> flush, OutgoingFrames frames)
        {
            Exception? failure = flush.IsFaulted ? flush.Exception!.GetBaseException()
                : flush.IsCanceled || flush.Result.IsCanceled ? new OperationCanceledException("the write was cancelled")
                : flush.Result.IsCompleted ? new IOException("the connection is closed")
                : null;
            if (failure is null)
            {
                frames.Written.TrySetResult();
                Pull(_stage._in);
                return;
            }

            frames.Written.TrySetException(failure);
            FailStage(failure);
        }
    }
}
