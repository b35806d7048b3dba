using Akka.Actor;
using PgBouncerActors.Backend;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Auth;

/// <summary>What auth_query found for a user: its secret (null: no such user, or no valid password), or why it could not run (for the log).</summary>
internal sealed record SecretLookedUp(string? Secret, string? Failure)
{
    /// <summary>What the client is told when the query could not run: not the server's words, which would show any client the schema.</summary>
    public static readonly PgError ClientError = PgError.FatalError(SqlStates.ConnectionFailure,
        "the pooler could not look up the user (auth_query failed; the pooler's log says why)");
}

/// <summary>
/// Runs auth_query for one login on a connection of auth_user's own pool, as PgBouncer does: asks
/// the registry for the pool, waits its turn for a connection like any client, runs the query
/// with the user name as $1, gives the connection back and tells its parent (the client's
/// session) what it found, then stops. If it dies holding the connection, the pool sees it and
/// closes that connection.
/// </summary>
internal sealed class SecretLookupActor : ReceiveActor
{
    private IActorRef? _pool;

    public SecretLookupActor(IActorRef pools, PoolDefinition authPool, string query, string user, TimeSpan timeout)
    {
        Receive<PoolFound>(found =>
        {
            _pool = found.Pool;
            _pool.Tell(new LeaseRequest(), Self);
        });
        Receive<LeaseGranted>(granted =>
        {
            Context.Watch(granted.Backend);
            RunAsync(granted.Connection, query, user, timeout).PipeTo(Self, Self,
                result => new Ran(granted.Backend, result, null), cause => new Ran(granted.Backend, null, cause));
        });
        Receive<LeaseFailed>(failed => Done(new SecretLookedUp(null, $"no connection for auth_user: {failed.Error.Message}")));
        Receive<Ran>(ran =>
        {
            Context.Unwatch(ran.Backend);
            var clean = ran.Failure is null && ran.Result?.Error is null;
            _pool!.Tell(new LeaseReturned(ran.Backend, clean, clean ? "" : "auth_query failed on it"), Self);
            Done(ran.Failure is { } failure ? new SecretLookedUp(null, failure.Message)
                : ran.Result!.Value.Error is { } error ? new SecretLookedUp(null, error.ToString())
                : new SecretLookedUp(ran.Result!.Value.Row is [_, var secret, ..] ? secret : null, null));
        });
        Receive<Terminated>(_ => { }); // a backend lost mid-query fails the query itself
        Receive<ReleaseIfParked>(_ => { });
        pools.Tell(new GetPool(authPool), Self);
    }

    public static Props Props(IActorRef pools, PoolDefinition authPool, string query, string user, TimeSpan timeout) =>
        Akka.Actor.Props.Create(() => new SecretLookupActor(pools, authPool, query, user, timeout));

    private static async Task<(string?[]? Row, PgError? Error)> RunAsync(ServerConnection connection, string query, string user, TimeSpan timeout)
    {
        if (!await connection.StopIdleWatchAsync().ConfigureAwait(false))
        {
            throw new IOException("the auth_user's server connection died before use");
        }

        using var cancel = new CancellationTokenSource(timeout);
        return await connection.QueryFirstRowAsync(query, [user], cancel.Token).ConfigureAwait(false);
    }

    private void Done(SecretLookedUp result)
    {
        Context.Parent.Tell(result);
        Context.Stop(Self);
    }

    private sealed record Ran(IActorRef Backend, (string?[]? Row, PgError? Error)? Result, Exception? Failure);
}
