namespace PgBouncerActors.Actors;

/// <summary>
/// An actor described by typed handlers, registered in the constructor (or in <see cref="Become"/>)
/// and tried in order of registration.
/// </summary>
public abstract class ReceiveActor : ActorBase
{
    private List<Handler>? _registering = [];
    private Handler[] _handlers = [];

    protected void Receive<T>(Action<T> handler, Predicate<T>? shouldHandle = null) =>
        Register(new SyncHandler<T>(handler, shouldHandle));

    /// <summary>An async handler: no other user message is processed until its task has completed.</summary>
    protected void ReceiveAsync<T>(Func<T, Task> handler, Predicate<T>? shouldHandle = null) =>
        Register(new AsyncHandler<T>(handler, shouldHandle));

    protected void ReceiveAny(Action<object> handler) => Register(new SyncHandler<object>(handler, null));

    protected void ReceiveAnyAsync(Func<object, Task> handler) => Register(new AsyncHandler<object>(handler, null));

    /// <summary>Replaces the current handlers by the ones <paramref name="configure"/> registers.</summary>
    protected void Become(Action configure)
    {
        var registering = new List<Handler>();
        _registering = registering;
        try
        {
            configure();
        }
        finally
        {
            _registering = null;
        }

        _handlers = registering.ToArray();
    }

    protected internal sealed override bool Receive(object message)
    {
        if (_registering is { } registered)
        {
            // The first message seals what the constructor registered.
            _handlers = registered.ToArray();
            _registering = null;
        }

        foreach (var handler in _handlers)
        {
            if (handler.TryHandle(this, message))
            {
                return true;
            }
        }

        return false;
    }

    private void Register(Handler handler)
    {
        if (_registering is null)
        {
            throw new InvalidOperationException(
                "Handlers are registered in the constructor or inside Become, not while handling a message.");
        }

        _registering.Add(handler);
    }

    private abstract class Handler
    {
        public abstract bool TryHandle(ReceiveActor actor, object message);
    }

    private sealed class SyncHandler<T>(Action<T> handler, Predicate<T>? shouldHandle) : Handler
    {
        public override bool TryHandle(ReceiveActor actor, object message)
        {
            if (message is not T typed || (shouldHandle is not null && !shouldHandle(typed)))
            {
                return false;
            }

            handler(typed);
            return true;
        }
    }

    private sealed class AsyncHandler<T>(Func<T, Task> handler, Predicate<T>? shouldHandle) : Handler
    {
        public override bool TryHandle(ReceiveActor actor, object message)
        {
            if (message is not T typed || (shouldHandle is not null && !shouldHandle(typed)))
            {
                return false;
            }

            actor.Cell.RunAsyncHandler(handler, typed);
            return true;
        }
    }
}
