using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using PgBouncerActors.Admin;
using PgBouncerActors.Configuration;
using PgBouncerActors.Framing;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Framing;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Session;

/// <summary>
/// A client of the virtual database "pgbouncer": after the same authentication as everyone, an
/// admin_users or stats_users member talks to the <see cref="AdminConsole"/> on the Akka.Streams
/// framing conversation that ran its login (a console session is rare and slow, so the graph's
/// cost does not matter here, unlike the proxy loops'); anybody else is refused as PgBouncer
/// refuses them.
/// </summary>
internal sealed partial class ClientSessionActor
{
    /// <summary>The largest console query taken; the console's commands are a few words.</summary>
    private const int ConsoleMessageLimit = 1 << 20;

    private bool _admin;
    private bool _peerAdmin; // came over the Unix socket as the pooler's own OS user

    private bool IsAdminDatabase => _database == ShowTables.AdminDatabase;

    private void StartConsole()
    {
        var settings = Settings;
        var isAdmin = _peerAdmin || settings.AdminUsers.Contains(_user);
        if (!isAdmin && !settings.StatsUsers.Contains(_user))
        {
            Finish("not allowed on the admin console", PgError.FatalError(SqlStates.InvalidAuthorization, "not allowed",
                detail: $"user \"{_user}\" is in neither admin_users nor stats_users"));
            return;
        }

        if (CountAgainstClientLimits(consoleAdmin: isAdmin) is { } refusal)
        {
            Finish(refusal.Message, refusal);
            return;
        }

        var frames = _frames!;
        _frames = null;
        CompleteLogin();
        JoinStatistics(new PoolKey(ShowTables.AdminDatabase, ShowTables.AdminDatabase));
        _services.Log.Information("admin console login: user={User} addr={Address} access={Access}", _user, Address,
            _peerAdmin ? "admin (the pooler's OS user over the Unix socket)" : isAdmin ? "admin" : "stats");
        _phase = Phase.Console;
        var console = new AdminConsole(_services, _pools, Context.Parent, isAdmin);
        RunConsoleAsync(frames, console, _lifetime.Token).PipeTo(Self, Self, ended => ended,
            cause => new ConsoleEnded($"admin console failed: {cause.Message}", cause is FramingException framing
                ? PgError.FatalError(SqlStates.ProtocolViolation, framing.Message) : null));
    }

    private async Task<ConsoleEnded> RunConsoleAsync(FrameConversation frames, AdminConsole console, CancellationToken cancellationToken)
    {
        await using var conversation = frames;
        var answer = new MessageBuilder().AuthenticationOk();
        foreach (var (name, value) in ConsoleParameters())
        {
            answer.ParameterStatus(name, value);
        }

        answer.BackendKeyData(RandomNumberGenerator.GetInt32(1, int.MaxValue), RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue))
            .ReadyForQuery();
        await frames.SendAsync(answer, cancellationToken).ConfigureAwait(false);
        var skippingToSync = false;
        while (true)
        {
            answer = new MessageBuilder();
            var message = await frames.ReadMessageAsync(ConsoleMessageLimit, cancellationToken).ConfigureAwait(false);
            switch (message?.Code)
            {
                case null:
                    LeaveClientCounts(); // at once, on the console's loop: the next SHOW CLIENTS, from anyone, no longer lists it
                    return new ConsoleEnded("client closed the connection", null);
                case (byte)FrontendMessageCode.Terminate:
                    LeaveClientCounts();
                    return new ConsoleEnded("client sent Terminate", null);
                case (byte)FrontendMessageCode.Query:
                    // The frame came on the socket thread that read it (HandOffExecutor): a command may render
                    // thousands of rows, so it runs on a pool thread and that thread goes back to forwarding.
                    if (!Thread.CurrentThread.IsThreadPoolThread)
                    {
                        await Task.Yield();
                    }

                    _entry?.Link?.ClientActive();
                    _entry?.Counters.ConsoleCommand();
                    await console.ExecuteAsync(QueryText(message.Payload), answer, cancellationToken).ConfigureAwait(false);
                    answer.ReadyForQuery();
                    break;
                case (byte)FrontendMessageCode.Sync:
                    skippingToSync = false;
                    answer.Error(PgError.Error(SqlStates.FeatureNotSupported, "the admin console takes simple queries only, as PgBouncer's",
                        hint: "psql works; a driver must use its simple query protocol")).ReadyForQuery();
                    break;
                case (byte)FrontendMessageCode.Parse or (byte)FrontendMessageCode.Bind or (byte)FrontendMessageCode.Describe
                    or (byte)FrontendMessageCode.Execute or (byte)FrontendMessageCode.Close or (byte)FrontendMessageCode.Flush:
                    skippingToSync = true; // answered at the Sync, once, as the server answers a failed batch
                    continue;
                default:
                    return new ConsoleEnded($"protocol violation: message type '{(char)message.Code}' on the admin console",
                        PgError.FatalError(SqlStates.ProtocolViolation, $"invalid frontend message type {message.Code}"));
            }

            if (!skippingToSync)
            {
                await frames.SendAsync(answer, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>What a console client is told at login: PgBouncer's server_version form, and the encodings psql needs.</summary>
    private static IEnumerable<(string, string)> ConsoleParameters() =>
    [
        ("server_version", "1.25.2/bouncer"),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO"),
        ("standard_conforming_strings", "on"),
        ("integer_datetimes", "on"),
    ];

    private static string QueryText(byte[] payload)
    {
        var end = Array.IndexOf(payload, (byte)0);
        return Encoding.UTF8.GetString(payload, 0, end < 0 ? payload.Length : end);
    }

    private bool ReceiveConsole(object message)
    {
        if (message is not ConsoleEnded ended)
        {
            return ReceiveCommon(message);
        }

        Finish(ended.Reason, ended.Error);
        return true;
    }

    private sealed record ConsoleEnded(string Reason, PgError? Error);
}
