using Akka.Streams;
using Akka.Streams.Stage;

namespace PgBouncerActors.Framing;

/// <summary>
/// The conversation's own ends of its graph: a source it offers elements into and a sink it takes
/// elements from, one at a time, each handed over through the stage's async callback. Akka's
/// Source.Queue and Sink.Queue do the same with buffers, completion bookkeeping and a graph
/// about four times as large.
/// What the stage completes (an element taken, a frame delivered) runs its awaiter's continuation
/// on the stage's own thread, not queued to the thread pool: the conversation's code between two
/// operations is short, never blocks, and reaches the graph again only through async callbacks,
/// which Akka queues to the stream actor; each queued hand-over would be a thread woken per message.
/// </summary>
internal sealed class OfferSource<T>() : GraphStageWithMaterializedValue<SourceShape<T>, OfferSource<T>.Handle>
{
    private readonly Outlet<T> _out = new("offer.out");

    public override SourceShape<T> Shape => new(_out);

    /// <summary>What the conversation holds: offer the next element (done when the stream took it), or complete.</summary>
    public sealed class Handle
    {
        internal volatile Action<(T Element, TaskCompletionSource? Taken)>? Offer;
        internal volatile Action<bool>? Complete;
        internal readonly TaskCompletionSource Started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        internal readonly TaskCompletionSource Ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task OfferAsync(T element)
        {
            await Started.Task.ConfigureAwait(false);
            var taken = new TaskCompletionSource(); // continued on the stage's thread (see the class)
            if (Offer is not { } offer)
            {
                throw new IOException("the conversation has ended");
            }

            offer((element, taken));
            // A stage that has stopped runs no callback: its end settles the offer instead.
            if (await Task.WhenAny(taken.Task, Ended.Task).ConfigureAwait(false) != taken.Task && !taken.Task.IsCompleted)
            {
                throw new IOException("the conversation has ended");
            }

            await taken.Task.ConfigureAwait(false);
        }

        /// <summary>
        /// Offers without waiting until the stream took the element: for an element whose outcome
        /// is awaited elsewhere (a read request, whose frame the sink delivers). Offered to a stream
        /// that has ended, it is dropped, and what awaits the outcome learns of the end there.
        /// </summary>
        public void Post(T element)
        {
            if (Started.Task.IsCompleted)
            {
                Offer?.Invoke((element, null));
            }
            else
            {
                Started.Task.ContinueWith(_ => Offer?.Invoke((element, null)), TaskScheduler.Default);
            }
        }

        public void CompleteStream()
        {
            if (Started.Task.IsCompleted)
            {
                Complete?.Invoke(true);
            }
            else
            {
                Started.Task.ContinueWith(_ => Complete?.Invoke(true), TaskScheduler.Default);
            }
        }
    }

    public override ILogicAndMaterializedValue<Handle> CreateLogicAndMaterializedValue(Attributes inheritedAttributes)
    {
        var handle = new Handle();
        return new LogicAndMaterializedValue<Handle>(new Logic(this, handle), handle);
    }

    private sealed class Logic : OutGraphStageLogic
    {
        private readonly OfferSource<T> _stage;
        private readonly Handle _handle;
        private (T Element, TaskCompletionSource? Taken)? _pending;
        private bool _completing;

        public Logic(OfferSource<T> stage, Handle handle) : base(stage.Shape)
        {
            _stage = stage;
            _handle = handle;
            SetHandler(stage._out, this);
        }

        public override void PreStart()
        {
            _handle.Offer = GetAsyncCallback<(T Element, TaskCompletionSource? Taken)>(offered =>
            {
                _pending = offered;
                TryPush();
            });
            _handle.Complete = GetAsyncCallback<bool>(_ =>
            {
                _completing = true;
                if (_pending is null)
                {
                    CompleteStage();
                }
            });
            _handle.Started.TrySetResult();
        }

        public override void OnPull() => TryPush();

        public override void OnDownstreamFinish(Exception cause)
        {
            _pending?.Taken?.TrySetException(new IOException("the conversation has ended", cause));
            base.OnDownstreamFinish(cause);
        }

        public override void PostStop()
        {
            _pending?.Taken?.TrySetException(new IOException("the conversation has ended"));
            _handle.Offer = null; // the handle may outlive the graph: it must not keep the stopped graph alive
            _handle.Complete = null;
            _handle.Ended.TrySetResult();
        }

        private void TryPush()
        {
            if (_pending is not { } offered || !IsAvailable(_stage._out))
            {
                return;
            }

            _pending = null;
            Push(_stage._out, offered.Element);
            offered.Taken?.TrySetResult();
            if (_completing)
            {
                CompleteStage();
            }
        }
    }
}

/// <summary>The sink end: pulls only when the conversation asks for the next element, so nothing is read ahead.</summary>
internal sealed class TakeSink<T>() : GraphStageWithMaterializedValue<SinkShape<T>, TakeSink<T>.Handle> where T : class
{
    private readonly Inlet<T> _in = new("take.in");

    public override SinkShape<T> Shape => new(_in);

    /// <summary>What the conversation holds: take the next element, or null when the stream completed.</summary>
    public sealed class Handle
    {
        internal volatile Action<TaskCompletionSource<T?>>? Take;
        internal readonly TaskCompletionSource Started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        internal readonly TaskCompletionSource Ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        internal Exception? Failure;

        /// <summary>Done when the stage has stopped, whatever ended it.</summary>
        public Task Stopped => Ended.Task;

        public async Task<T?> TakeAsync()
        {
            await Started.Task.ConfigureAwait(false);
            var taken = new TaskCompletionSource<T?>(); // continued on the stage's thread (see OfferSource)
            if (Take is not { } take)
            {
                return Failure is null ? null : throw Failure;
            }

            take(taken);
            // A stage that has stopped runs no callback: its end (and why) settles the take instead.
            if (await Task.WhenAny(taken.Task, Ended.Task).ConfigureAwait(false) != taken.Task && !taken.Task.IsCompleted)
            {
                return Failure is null ? null : throw Failure;
            }

            return await taken.Task.ConfigureAwait(false);
        }
    }

    public override ILogicAndMaterializedValue<Handle> CreateLogicAndMaterializedValue(Attributes inheritedAttributes)
    {
        var handle = new Handle();
        return new LogicAndMaterializedValue<Handle>(new Logic(this, handle), handle);
    }

    private sealed class Logic : InGraphStageLogic
    {
        private readonly TakeSink<T> _stage;
        private readonly Handle _handle;
        private TaskCompletionSource<T?>? _waiting;
        private Exception? _failure;
        private bool _finished;

        public Logic(TakeSink<T> stage, Handle handle) : base(stage.Shape)
        {
            _stage = stage;
            _handle = handle;
            SetHandler(stage._in, this);
        }

        public override void PreStart()
        {
            _handle.Take = GetAsyncCallback<TaskCompletionSource<T?>>(taker =>
            {
                if (_finished)
                {
                    Settle(taker);
                    return;
                }

                _waiting = taker;
                Pull(_stage._in);
            });
            _handle.Started.TrySetResult();
        }

        public override void OnPush()
        {
            var waiting = _waiting;
            _waiting = null;
            waiting?.TrySetResult(Grab(_stage._in));
        }

        public override void OnUpstreamFinish()
        {
            _finished = true;
            if (_waiting is { } waiting)
            {
                Settle(waiting);
            }

            CompleteStage();
        }

        public override void OnUpstreamFailure(Exception e)
        {
            _finished = true;
            _failure = e;
            _handle.Failure = e;
            if (_waiting is { } waiting)
            {
                Settle(waiting);
            }

            FailStage(e);
        }

        public override void PostStop()
        {
            _waiting?.TrySetResult(null);
            _handle.Take = null; // the handle may outlive the graph: it must not keep the stopped graph alive
            _handle.Ended.TrySetResult();
        }

        private void Settle(TaskCompletionSource<T?> taker)
        {
            if (_failure is not null)
            {
                taker.TrySetException(_failure);
            }
            else
            {
                taker.TrySetResult(null);
            }
        }
    }
}
