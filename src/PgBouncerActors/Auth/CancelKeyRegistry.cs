using System.Collections.Concurrent;
using PgBouncerActors.Backend;

namespace PgBouncerActors.Auth;

/// <summary>
/// Maps the BackendKeyData a client was given to the server connection a cancel must reach. A
/// CancelRequest arrives on a new connection, so this lookup is the only link between the two.
/// </summary>
internal sealed class CancelKeyRegistry
{
    private readonly ConcurrentDictionary<(int ProcessId, int SecretKey), CancelTarget> _targets = new();

    public void Register(int processId, int secretKey, CancelTarget target) => _targets[(processId, secretKey)] = target;

    public void Unregister(int processId, int secretKey) => _targets.TryRemove((processId, secretKey), out _);

    public CancelTarget? Find(int processId, int secretKey) => _targets.GetValueOrDefault((processId, secretKey));
}

/// <summary>The server connection to cancel: where it is and its own key.</summary>
internal sealed record CancelTarget(ServerEndpoint Endpoint, int ProcessId, int SecretKey);
