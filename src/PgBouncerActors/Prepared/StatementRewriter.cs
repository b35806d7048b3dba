using System.Buffers;
using System.Text;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Proxy;

namespace PgBouncerActors.Prepared;

/// <summary>
/// Transaction and statement modes: keeps a client's named prepared statements working whichever
/// server connection its transactions land on. The names stay the client's
/// (<see cref="ClientStatements"/>); on the server each statement has a name of the pooler's
/// (<see cref="ServerStatements"/>), and clients that prepare the same statement share it.
/// <list type="bullet">
/// <item>A Bind or Describe of a statement the connection lacks goes out after a Parse of the
/// pooler's; the client never sees its ParseComplete, but does see its error, in the place of the
/// answer to its own message (which the server then skips, as it would have).</item>
/// <item>A Parse of a statement the connection already has prepares nothing; the client still
/// gets its ParseComplete in its place among the answers, as the answer to a message sent for
/// that only (closing a portal that does not exist). The same way, a refusal PostgreSQL would
/// give (a name in use: 42P05) comes as the answer to a message that fails on the server, so the
/// server skips to Sync just as the client expects.</item>
/// </list>
/// Each method writes what goes to the server in place of the client's message into
/// <see cref="Output"/> and tells the link's tracker what was sent, or returns false to let the
/// message through unchanged. Called by the client loop, under the link's gate, with a server.
/// </summary>
internal sealed partial class StatementRewriter(Func<int> maxPerServer, StatementInvalidation invalidation)
{
    /// <summary>
    /// The longest Parse of a named statement, whose text the pooler keeps to prepare it on other
    /// server connections (an unnamed one of any length streams through).
    /// </summary>
    public const int LongestNamedParse = 1024 * 1024;

    /// <summary>
    /// The longest simple query read for PREPARE, EXECUTE and DEALLOCATE (a longer one streams
    /// through unseen: a PREPARE in it is not carried to the client's other server connections).
    /// </summary>
    public const int LongestQueryFollowed = 64 * 1024;

    /// <summary>Never the name of a statement or portal: messages sent only for their answer name it.</summary>
    private const string NoSuchName = "PGBA_NONE";

    private static readonly byte[] NoSuchNameBytes = Encoding.UTF8.GetBytes(NoSuchName);
    private static readonly byte[] ParseCompleteMessage = new MessageBuilder().ParseComplete().ToArray();

    private MessageBuilder? _builder; // made on first use: an idle client that never prepares costs nothing here
    private byte[] _lastName = [];
    private string _lastNameText = "";

    public ClientStatements Client { get; } = new();

    /// <summary>Whether the statements are renamed now: max_prepared_statements, which the console may SET to 0 and back, is above 0.</summary>
    public bool Enabled => maxPerServer() > 0;

    /// <summary>What goes to the server instead of the message just rewritten; valid until the next call.</summary>
    public ReadOnlyMemory<byte> Output => Out.WrittenMemory;

    private MessageBuilder Out => _builder ??= new MessageBuilder();

    /// <summary>
    /// A Parse, seen whole. The unnamed statement is not the pooler's business, unless it is about
    /// prepared statements made with SQL (<paramref name="effects"/>, when it goes on as it is) or
    /// deallocates one of the client's made with Parse.
    /// </summary>
    public bool RewriteParse(ReadOnlySequence<byte> payload, ClientLink link, out SqlEffects? effects)
    {
        effects = null;
        var reader = new SequenceReader<byte>(payload);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> nameBytes, 0))
        {
            return false;
        }

        if (nameBytes.IsEmpty)
        {
            return RewriteUnnamed(reader.UnreadSequence, link, out effects);
        }

        var name = Encoding.UTF8.GetString(nameBytes);
        var definition = StatementDefinition.FromParse(reader.UnreadSequence);
        definition.DefinedAt = invalidation.Step;
        link.Tracker.Counters.ClientParsed();
        Out.Clear();
        if (!Client.TryDefine(name, definition))
        {
            link.LogPreparedNameReused(name);
            RefuseAsPostgreSqlWould(Duplicate(name), link);
            return true;
        }

        var statements = StatementsOf(link);
        if (statements.Use(definition, forNewStatement: true) is not null)
        {
            Out.Close('P', NoSuchNameBytes);
            link.Tracker.PoolerSentForAnswer((byte)FrontendMessageCode.Close, ParseCompleteMessage, new ClientParse(Client, name, definition, null));
            return true;
        }

        var statement = statements.Add(definition);
        CloseRetired(statements, link);
        Out.Parse(statement.NameBytes, definition.Body);
        link.Tracker.Counters.ServerParsed();
        link.Tracker.ClientSent((byte)FrontendMessageCode.Parse, new ClientParse(Client, name, definition, statement));
        return true;
    }

    /// <summary>
    /// The start of a Parse longer than <see cref="LongestNamedParse"/>: unnamed, it passes (0);
    /// named, it is refused as over a limit (54000), the server skipping to Sync as after the
    /// client's own failed Parse, and nothing of it goes on.
    /// </summary>
    public int RefuseLongNamedParse(ReadOnlySequence<byte> head, ClientLink link, out bool dropRest)
    {
        var reader = new SequenceReader<byte>(head);
        var unnamed = reader.TryReadTo(out ReadOnlySequence<byte> name, 0) && name.IsEmpty;
        dropRest = !unnamed;
        if (unnamed)
        {
            return 0;
        }

        Out.Clear();
        RefuseAsPostgreSqlWould(PgError.Error(SqlStates.ProgramLimitExceeded,
            $"a named prepared statement of over {LongestNamedParse} bytes cannot be kept in transaction pooling mode", hint: "Use an unnamed statement."), link);
        return (int)head.Length;
    }

    /// <summary>
    /// The start of a Bind (portal and statement names; the parameters stream on unseen).
    /// Returns how many payload bytes <see cref="Output"/> replaces (0: unchanged), or -1 when the
    /// names are longer than the pooler looks (the client is refused with <paramref name="violation"/>);
    /// <paramref name="dropRest"/>: the rest of the Bind goes nowhere either (it is refused).
    /// </summary>
    public int RewriteBindHead(int length, ReadOnlySequence<byte> head, ClientLink link, out string? violation, out bool dropRest)
    {
        violation = null;
        dropRest = false;
        var reader = new SequenceReader<byte>(head);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> portal, 0) || !reader.TryReadTo(out ReadOnlySequence<byte> statementName, 0))
        {
            if (head.Length >= FrameForwarder.HeadLimit)
            {
                violation = $"a Bind whose portal and statement names take more than {FrameForwarder.HeadLimit} bytes";
                return -1;
            }

            return 0; // malformed: the server says so
        }

        if (statementName.IsEmpty)
        {
            return 0; // the unnamed statement is not the pooler's business
        }

        var known = TryGetDefinition(statementName, out var definition);
        if (known && definition.IsSql)
        {
            return 0; // made with SQL: the server holds it under the client's name
        }

        Out.Clear();
        if (!known)
        {
            // Never the client's: refused as PostgreSQL refuses an unknown name, never passed on, so no client reaches a
            // statement the pooler prepared for others.
            RefuseAsPostgreSqlWould(Unknown(_lastNameText), link);
            dropRest = true; // its parameters go nowhere
            return (int)(portal.Length + 1 + statementName.Length + 1);
        }

        var statement = EnsurePrepared(definition, link);
        link.Tracker.Counters.Bound();
        Out.WriteByte((byte)FrontendMessageCode.Bind).WriteInt32(length - (int)statementName.Length + statement.NameBytes.Length);
        WriteCString(portal);
        Out.WriteBytes(statement.NameBytes).WriteByte(0);
        link.Tracker.ClientSentUsing((byte)FrontendMessageCode.Bind, statement);
        return (int)(portal.Length + 1 + statementName.Length + 1);
    }

    /// <summary>A Describe, seen whole: of a statement, it names the pooler's.</summary>
    public bool RewriteDescribe(ReadOnlySequence<byte> payload, ClientLink link)
    {
        if (!TryReadStatementTarget(payload, out var definition))
        {
            return false;
        }

        if (definition is { IsSql: true })
        {
            return false; // made with SQL: the server holds it under the client's name
        }

        Out.Clear();
        if (definition is null)
        {
            RefuseAsPostgreSqlWould(Unknown(_lastNameText), link);
            return true;
        }

        var statement = EnsurePrepared(definition, link);
        Out.Describe('S', statement.NameBytes);
        link.Tracker.ClientSentUsing((byte)FrontendMessageCode.Describe, statement);
        return true;
    }

    /// <summary>
    /// A Close, seen whole: of a statement, it frees the client's name at once; the server's copy
    /// stays for whoever prepares it next, until it is evicted. The client gets its CloseComplete.
    /// </summary>
    public bool RewriteClose(ReadOnlySequence<byte> payload, ClientLink link)
    {
        if (!TryReadStatementTarget(payload, out var definition))
        {
            return false;
        }

        if (definition is { IsSql: true })
        {
            // Made with SQL: the server closes its own copy (a Close never fails), and the name is free from now on.
            StatementsOf(link).SqlChanged(Client, _lastNameText, definition: null);
            return false;
        }

        // A name the client does not have closes nothing, as on a direct connection: never one of the pooler's.
        Client.Remove(_lastNameText);
        Out.Clear();
        Out.Close('S', NoSuchNameBytes);
        link.Tracker.ClientSent((byte)FrontendMessageCode.Close);
        return true;
    }

    /// <summary>The statement's server name on this connection, preparing it first (a Parse of the pooler's into <see cref="Output"/>) when it lacks it.</summary>
    private ServerStatement EnsurePrepared(StatementDefinition definition, ClientLink link)
    {
        var statements = StatementsOf(link);
        if (statements.Use(definition, forNewStatement: false) is { } prepared)
        {
            return prepared;
        }

        var statement = statements.Add(definition);
        CloseRetired(statements, link);
        Out.Parse(statement.NameBytes, definition.Body);
        link.Tracker.Counters.ServerParsed();
        link.Tracker.PoolerSentParse(statement);
        return statement;
    }

    /// <summary>
    /// An unnamed Parse. Of <c>PREPARE</c>, <c>DEALLOCATE</c> or <c>DISCARD ALL</c>, it goes on with
    /// its <paramref name="effects"/>, seen when an Execute of it answers. Of <c>DEALLOCATE
    /// [PREPARE] name</c> where the name is one of the client's made with Parse (psycopg sends it
    /// so): the name is freed at once, and the server deallocates a stand-in the pooler prepares just
    /// before (its answers unseen), so the client's Bind and Execute of the statement get
    /// DEALLOCATE's own answers while the server's shared copy stays for others.
    /// </summary>
    private bool RewriteUnnamed(ReadOnlySequence<byte> body, ClientLink link, out SqlEffects? effects)
    {
        effects = null;
        NoticeRoleChange(body);
        if (!StartsLikeAboutPrepared(body.FirstSpan) || SqlPreparedCommand.Recognize(body, out var whole) is not { } commands)
        {
            return false; // the hot path: an unnamed statement of the client's own
        }

        if (!whole || commands[0] is not { Verb: SqlPreparedVerb.Deallocate } deallocate ||
            !Client.TryGet(deallocate.Name, out var definition) || definition.IsSql)
        {
            effects = SqlEffects.Of(commands);
            return false;
        }

        Client.Remove(deallocate.Name);
        var standIn = StatementsOf(link).NextStandInName();
        Out.Clear();
        Out.Parse("", $"PREPARE \"{standIn}\" AS SELECT");
        link.Tracker.PoolerSentShowingErrors((byte)FrontendMessageCode.Parse);
        Out.Bind("", "");
        link.Tracker.PoolerSentShowingErrors((byte)FrontendMessageCode.Bind);
        Out.Execute("");
        link.Tracker.PoolerSentShowingErrors((byte)FrontendMessageCode.Execute);
        Out.Parse("", $"DEALLOCATE \"{standIn}\"");
        link.Tracker.ClientSent((byte)FrontendMessageCode.Parse);
        return true;
    }

    /// <summary>Whether a statement's text may begin with PREPARE, DEALLOCATE or DISCARD (or a comment): most do not, and are not read further.</summary>
    private static bool StartsLikeAboutPrepared(ReadOnlySpan<byte> text)
    {
        var start = text.IndexOfAnyExcept(" \t\r\n"u8);
        return start >= 0 && text[start] is (byte)'d' or (byte)'D' or (byte)'p' or (byte)'P' or (byte)'-' or (byte)'/';
    }

    /// <summary>Closes on the server the statements this connection no longer keeps (evicted to make room, or stale), before the message that replaced them.</summary>
    private void CloseRetired(ServerStatements statements, ClientLink link)
    {
        while (statements.TakeRetired(out var retired))
        {
            Out.Close('S', retired.NameBytes);
            link.Tracker.PoolerSent((byte)FrontendMessageCode.Close);
        }
    }

    /// <summary>
    /// Sends a Bind of a statement that exists nowhere: the server fails it and skips to Sync, as
    /// it would after the client's own message failed, and the client sees <paramref name="error"/>.
    /// </summary>
    private void RefuseAsPostgreSqlWould(PgError error, ClientLink link)
    {
        Out.Bind(NoSuchName, NoSuchName);
        link.Tracker.PoolerSentForAnswer((byte)FrontendMessageCode.Bind, new MessageBuilder().Error(error).ToArray());
    }

    /// <summary>PostgreSQL's answer to a name the client never prepared, given without the server ever seeing the name.</summary>
    private static PgError Unknown(string name) => PgError.Error(SqlStates.InvalidSqlStatementName, $"prepared statement \"{name}\" does not exist");

    private static PgError Duplicate(string name) => PgError.Error(SqlStates.DuplicatePreparedStatement, $"prepared statement \"{name}\" already exists");

    private ServerStatements StatementsOf(ClientLink link)
    {
        var server = link.Server!;
        return server.Statements ??= new ServerStatements(maxPerServer, invalidation);
    }

    /// <summary>A Describe or Close payload naming a statement ('S'), not the unnamed one: the client's definition of it, null when it has none.</summary>
    private bool TryReadStatementTarget(ReadOnlySequence<byte> payload, out StatementDefinition? definition)
    {
        definition = null;
        if (payload.Length < 2 || payload.FirstSpan[0] != (byte)'S')
        {
            return false;
        }

        var reader = new SequenceReader<byte>(payload.Slice(1));
        if (!reader.TryReadTo(out ReadOnlySequence<byte> name, 0) || name.IsEmpty)
        {
            return false;
        }

        definition = TryGetDefinition(name, out var found) ? found : null;
        return true;
    }

    /// <summary>Looks a client's statement up by its name's bytes; the last name read is kept, as a client mostly binds one statement again and again.</summary>
    private bool TryGetDefinition(ReadOnlySequence<byte> name, out StatementDefinition definition)
    {
        if (!SameBytes(name, _lastName))
        {
            _lastName = name.ToArray();
            _lastNameText = Encoding.UTF8.GetString(_lastName);
        }

        return Client.TryGet(_lastNameText, out definition);
    }

    private static bool SameBytes(ReadOnlySequence<byte> bytes, byte[] other) =>
        bytes.Length == other.Length && (bytes.IsSingleSegment ? bytes.FirstSpan.SequenceEqual(other) : bytes.ToArray().AsSpan().SequenceEqual(other));

    private void WriteCString(ReadOnlySequence<byte> text)
    {
        foreach (var segment in text)
        {
            Out.WriteBytes(segment.Span);
        }

        Out.WriteByte(0);
    }

    /// <summary>
    /// The client's own Parse or PREPARE, as sent in its place: if the server refuses or skips it,
    /// PostgreSQL would never have defined the client's name (nor the pooler's statement, if it was a new one).
    /// </summary>
    private sealed class ClientParse(ClientStatements client, string name, StatementDefinition definition, ServerStatement? statement) : IPrepareOutcome
    {
        public void NotPrepared()
        {
            statement?.NotPrepared();
            client.Undefine(name, definition);
        }
    }
}
