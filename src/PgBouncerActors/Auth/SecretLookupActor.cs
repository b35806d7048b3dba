using Akka.Actor;
using PgBouncerActors.Backend;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Auth;

/// <summary>What auth_query found for a user: its secret (null: no such user, or no valid password), or why it could not run (for the log).</summary>
internal sealed record SecretLookedUp(string? Secret, string? Failure)
{
    /// <summary>What the client is told when the query could not run: not the server's words, which would show any client the schema.</summary>
    /// <summary>
    /// What a row with no password (NULL) is cached and reported as: the user exists, which
    /// trust needs to know, and has no secret any password could match. Never handed to a
    /// password check (the session reads it as no secret); no server text can contain a NUL.
    /// </summary>
    public const string UserWithoutPassword = "\0user without a password";

    public static readonly PgError ClientError = PgError.FatalError(SqlStates.ConnectionFailure, "bouncer config error",
        detail: "the pooler could not look up the user: auth_query failed; the pooler's log says why");
}

/// <summary>
/// Runs auth_query for one login on a connection of auth_user's own pool, as PgBouncer does: asks
/// the registry for the pool, waits its turn at the pool's desk for a connection like any client,
/// runs the query with the user name as $1, gives the connection back and tells its parent (the
/// client's session) what it found, then stops. The lookup runs as one task that always gives the
/// connection back (or has it closed), whatever becomes of the actor.
/// </summary>
internal sealed class SecretLookupActor : ReceiveActor
{
    public SecretLookupActor(IActorRef pools, PoolDefinition authPool, string query, string user, TimeSpan timeout)
    {
        Receive<PoolFound>(found => LookUpAsync(found.Desk, query, user, timeout).PipeTo(Self, Self, found => found,
            cause => new SecretLookedUp(null, cause.Message)));
        Receive<SecretLookedUp>(found =>
        {
            Context.Parent.Tell(found);
            Context.Stop(Self);
        });
        pools.Tell(new GetPool(authPool), Self);
    }

    public static Props Props(IActorRef pools, PoolDefinition authPool, string query, string user, TimeSpan timeout) =>
        Akka.Actor.Props.Create(() => new SecretLookupActor(pools, authPool, query, user, timeout));

    private static async Task<SecretLookedUp> LookUpAsync(LendingDesk desk, string query, string user, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var waiter = new DeskWaiter();
        var checkout = desk.CheckoutAsync(waiter).AsTask();
        ServerConnection connection;
        try
        {
            connection = await checkout.WaitAsync(cancel.Token).ConfigureAwait(false);
        }
        catch (LendingRefusedException refused)
        {
            return new SecretLookedUp(null, $"no connection for auth_user: {refused.Error.Message}");
        }
        catch (OperationCanceledException)
        {
            if (!desk.Withdraw(waiter))
            {
                desk.CheckIn(await checkout.ConfigureAwait(false)); // granted as the time ran out: back unused
            }

            return new SecretLookedUp(null, $"no connection for auth_user within {timeout.TotalSeconds:0.#}s");
        }

        try
        {
            var (row, error) = await connection.QueryFirstRowAsync(query, [user], cancel.Token).ConfigureAwait(false);
            desk.CheckIn(connection);
            return error is not null ? new SecretLookedUp(null, error.ToString()) : new SecretLookedUp(row is [_, var secret, ..] ? secret ?? SecretLookedUp.UserWithoutPassword : null, null);
        }
        catch (Exception e)
        {
            desk.Retire(connection, "auth_query failed on it");
            return new SecretLookedUp(null, e.Message);
        }
    }
}
