using System.Collections.Concurrent;
using System.Security.Cryptography;
using PgBouncerActors.Backend;

namespace PgBouncerActors.Auth;

/// <summary>
/// Maps the BackendKeyData a client was given to its <see cref="CancelRoute"/>. A CancelRequest
/// arrives on a new connection, so this lookup is the only link between the two.
/// </summary>
internal sealed class CancelKeyRegistry
{
    private readonly ConcurrentDictionary<(int ProcessId, int SecretKey), CancelRoute> _routes = new();

    public void Register(int processId, int secretKey, CancelRoute route) => _routes[(processId, secretKey)] = route;

    /// <summary>A fresh random key for a client of a pooled mode, registered to its route.</summary>
    public (int ProcessId, int SecretKey) RegisterRandom(CancelRoute route)
    {
        while (true)
        {
            var key = (RandomNumberGenerator.GetInt32(1, int.MaxValue), RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue));
            if (_routes.TryAdd(key, route))
            {
                return key;
            }
        }
    }

    public void Unregister(int processId, int secretKey) => _routes.TryRemove((processId, secretKey), out _);

    public CancelRoute? Find(int processId, int secretKey) => _routes.GetValueOrDefault((processId, secretKey));
}

/// <summary>The server connection to cancel: where it is and its own key.</summary>
internal sealed record CancelTarget(ServerEndpoint Endpoint, int ProcessId, int SecretKey);

/// <summary>
/// Where a client's cancel goes: the server connection it holds right now, if any. While a cancel
/// is on its way the connection cannot be detached (and so cannot be lent to another client whose
/// query the late cancel would hit); a cancel for a client that holds nothing is ignored.
/// </summary>
internal sealed class CancelRoute
{
    private readonly Lock _lock = new();
    private ServerConnection? _server;
    private int _inFlight;
    private TaskCompletionSource? _drained;

    public void Attach(ServerConnection server)
    {
        lock (_lock)
        {
            _server = server;
        }
    }

    /// <summary>Detaches the connection unless a cancel is on its way to it.</summary>
    public bool TryDetach()
    {
        lock (_lock)
        {
            if (_inFlight > 0)
            {
                return false;
            }

            _server = null;
            return true;
        }
    }

    /// <summary>The target of a cancel starting now, or null when the client holds no server connection.</summary>
    public CancelTarget? BeginCancel()
    {
        lock (_lock)
        {
            if (_server is not { } server)
            {
                return null;
            }

            _inFlight++;
            return new CancelTarget(server.Endpoint, server.ProcessId, server.SecretKey);
        }
    }

    public void EndCancel()
    {
        lock (_lock)
        {
            if (--_inFlight == 0 && _drained is { } drained)
            {
                _drained = null;
                drained.TrySetResult();
            }
        }
    }

    /// <summary>Completes when no cancel is on its way.</summary>
    public Task WhenNoCancelInFlight()
    {
        lock (_lock)
        {
            if (_inFlight == 0)
            {
                return Task.CompletedTask;
            }

            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _drained.Task;
        }
    }
}
