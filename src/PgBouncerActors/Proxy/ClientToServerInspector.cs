using System.Buffers;
using System.Text;
using PgBouncerActors.Prepared;
using PgBouncerActors.Protocol;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Session;

namespace PgBouncerActors.Proxy;

/// <summary>
/// Client to server: passes on only what PostgreSQL reads as it stands (anything else is the
/// client's protocol violation and ends it, before a byte of it reaches a server another client
/// may use next), tells the link's tracker what went out, and stops at Terminate.
/// <para>
/// After a statement that resets settings to their defaults (see <see cref="SettingsReset"/>) it
/// writes a query of the pooler's own that puts the client's startup settings back; its answers
/// are dropped. A simple Query is followed by it at once; over the extended protocol the reset
/// happens when a portal of the statement runs, so the statement is remembered from its Parse,
/// and the query follows the Sync of every batch that binds it.
/// </para>
/// <para>
/// In transaction and statement modes, named prepared statements go through a
/// <see cref="StatementRewriter"/>: Parse, Describe, Close and short queries are seen whole, and
/// the start of each Bind (its names) is rewritten while its parameters stream through.
/// </para>
/// </summary>
/// <param name="startupSettings">The client's startup settings, re-applied after a reset; empty: nothing to re-apply.</param>
/// <param name="statements">The client's prepared statements across server connections; null: named statements pass as they are.</param>
internal sealed class ClientToServerInspector(ClientLink state, IReadOnlyDictionary<string, string> startupSettings,
    StatementRewriter? statements = null) : IFrameInspector
{
    private ReadOnlyMemory<byte> _injection;
    private StatementRewriter? _rewriter; // the rewriter for the message in hand; null while max_prepared_statements is 0
    private Dictionary<string, IReadOnlyList<SettingsReset>>? _resetStatements; // prepared statement name -> the resets it makes
    private List<SettingsReset>? _resetsBeforeSync;
    private bool _dropRest;

    private bool Watching => startupSettings.Count > 0;

    public FrameDecision OnHeader(byte code, int length)
    {
        // Read once per message: a SET max_prepared_statements = 0 on the console stops the renaming for every client at its
        // next message, as in PgBouncer (its statements already on servers stay there); a value above 0 brings it back.
        _rewriter = statements is { Enabled: true } ? statements : null;
        if (state.Refusal(code, length) is { } refusal)
        {
            state.ClientViolation = PgError.FatalError(SqlStates.ProtocolViolation, refusal);
            return FrameDecision.Stop;
        }

        if (_rewriter is not null && RewritesStatements(code, length) is { } decision)
        {
            return decision;
        }

        if (Watching && WantsToRead(code, length))
        {
            return FrameDecision.Inspect;
        }

        switch ((FrontendMessageCode)code)
        {
            case FrontendMessageCode.Terminate:
                return FrameDecision.Stop; // the session ends; the server connection stays open for reuse
            case FrontendMessageCode.Parse:
                _resetStatements = null; // too long to be a reset, and it may replace one: forget them all
                break;
        }

        Sent(code);
        return FrameDecision.Pass;
    }

    public FrameDecision OnFrame(byte code, ReadOnlySequence<byte> payload)
    {
        state.ClientActive();
        switch ((FrontendMessageCode)code)
        {
            case FrontendMessageCode.Query:
                SqlEffects? queryEffects = null;
                if (_rewriter?.RewriteQuery(payload, state, out queryEffects) == true)
                {
                    return Rewritten();
                }

                ClientSent(code, queryEffects);
                if (Watching)
                {
                    Inject(SettingsReset.FindIn(payload));
                }

                break;
            case FrontendMessageCode.Parse:
                if (Watching)
                {
                    RememberResets(payload);
                }

                SqlEffects? parseEffects = null;
                if (_rewriter?.RewriteParse(payload, state, out parseEffects) == true)
                {
                    return Rewritten();
                }

                ClientSent(code, parseEffects);
                break;
            case FrontendMessageCode.Describe when _rewriter?.RewriteDescribe(payload, state) == true:
            case FrontendMessageCode.Close when _rewriter?.RewriteClose(payload, state) == true:
                return Rewritten();
            case FrontendMessageCode.Describe or FrontendMessageCode.Close when payload.Length + 4 > FrontendMessageRules.SmallMessageLimit:
                // Let in for a long statement name the pooler renames, but it goes on as it is: PostgreSQL would refuse it.
                state.ClientViolation = PgError.FatalError(SqlStates.ProtocolViolation, FrontendMessageRules.Refusal(code, (int)payload.Length + 4)!);
                return FrameDecision.Stop;
            case FrontendMessageCode.Bind:
                state.Tracker.ClientSent(code);
                ResetsOfBind(payload);
                break;
            case FrontendMessageCode.Sync:
                state.Tracker.ClientSent(code);
                Inject(_resetsBeforeSync ?? []);
                _resetsBeforeSync = null;
                break;
            default:
                state.Tracker.ClientSent(code);
                break;
        }

        return FrameDecision.Pass;
    }

    /// <summary>
    /// When statements are rewritten: a Bind's start (its names, read for resets and renamed for
    /// the server), or a long Parse's (its name: unnamed, it streams on as it is).
    /// </summary>
    public int OnHead(byte code, int length, ReadOnlySequence<byte> head)
    {
        state.ClientActive();
        string? violation = null;
        int replaced;
        if (code == (byte)FrontendMessageCode.Parse)
        {
            _resetStatements = null; // too long to be a reset, and it may replace one: forget them all
            replaced = _rewriter!.RefuseLongNamedParse(head, state, out _dropRest);
        }
        else
        {
            if (Watching)
            {
                ResetsOfBind(head);
            }

            replaced = _rewriter!.RewriteBindHead(length, head, state, out violation, out _dropRest);
        }

        if (replaced < 0)
        {
            state.ClientViolation = PgError.FatalError(SqlStates.ProtocolViolation, violation!);
        }
        else if (replaced == 0)
        {
            state.Tracker.ClientSent(code);
        }
        else
        {
            _injection = _rewriter.Output;
        }

        return replaced;
    }

    public bool TakeDropRest()
    {
        var drop = _dropRest;
        _dropRest = false;
        return drop;
    }

    public ReadOnlyMemory<byte> TakeInjection()
    {
        var injection = _injection;
        _injection = default;
        return injection;
    }

    /// <summary>Which messages a statement rewriter must see: null for those it leaves alone.</summary>
    private static FrameDecision? RewritesStatements(byte code, int length) => (FrontendMessageCode)code switch
    {
        // A Parse is kept whole to prepare it again elsewhere; a longer one only has its name looked at.
        FrontendMessageCode.Parse => length <= StatementRewriter.LongestNamedParse ? FrameDecision.Inspect : FrameDecision.RewriteHead,
        FrontendMessageCode.Describe or FrontendMessageCode.Close => FrameDecision.Inspect,
        FrontendMessageCode.Bind => FrameDecision.RewriteHead,
        FrontendMessageCode.Query when length <= StatementRewriter.LongestQueryFollowed => FrameDecision.Inspect,
        _ => null,
    };

    /// <summary>Which messages must be seen whole: short Query and Parse (a reset is short), and, once a statement resets, its Binds and the Sync after them.</summary>
    private bool WantsToRead(byte code, int length) => (FrontendMessageCode)code switch
    {
        FrontendMessageCode.Query or FrontendMessageCode.Parse => length <= SettingsReset.LongestQueryLooked,
        // A reset statement has no parameters: a long Bind is not for one.
        FrontendMessageCode.Bind => _resetStatements is { Count: > 0 } && length <= SettingsReset.LongestQueryLooked,
        FrontendMessageCode.Sync => _resetsBeforeSync is not null,
        _ => false,
    };

    /// <summary>A Parse of a statement that resets settings is remembered, so that running it puts the client's settings back.</summary>
    private void RememberResets(ReadOnlySequence<byte> payload)
    {
        if (payload.Length + 4 > SettingsReset.LongestQueryLooked)
        {
            _resetStatements = null; // too long to be a reset, and it may replace one: forget them all
            return;
        }

        var statement = new CStrings(payload);
        var name = statement.Next();
        var resets = SettingsReset.FindIn(statement.Rest());
        if (resets.Count > 0)
        {
            (_resetStatements ??= [])[name] = resets;
        }
        else
        {
            _resetStatements?.Remove(name);
        }
    }

    /// <summary>A Bind (or its start) of a statement that resets settings: the reset happens at the batch's Sync.</summary>
    private void ResetsOfBind(ReadOnlySequence<byte> bind)
    {
        if (_resetStatements is not { Count: > 0 })
        {
            return;
        }

        var names = new CStrings(bind);
        names.Next(); // the portal
        if (_resetStatements.GetValueOrDefault(names.Next()) is { } bound)
        {
            (_resetsBeforeSync ??= []).AddRange(bound);
        }
    }

    /// <summary>The rewriter's messages go out in place of the client's.</summary>
    private FrameDecision Rewritten()
    {
        _injection = _rewriter!.Output;
        return FrameDecision.Drop;
    }

    private void Inject(IReadOnlyList<SettingsReset> resets)
    {
        if (StartupParameters.BuildReapplyQuery(startupSettings, resets) is { } reapply)
        {
            _injection = new MessageBuilder().Query(reapply).ToArray();
            state.Tracker.PoolerSent((byte)FrontendMessageCode.Query);
        }
    }

    private void ClientSent(byte code, SqlEffects? effects)
    {
        if (effects is null)
        {
            state.Tracker.ClientSent(code);
        }
        else
        {
            state.Tracker.ClientSentChangingStatements(code, effects);
        }
    }

    private void Sent(byte code)
    {
        state.Tracker.ClientSent(code);
        state.ClientActive();
    }

    /// <summary>Reads the NUL-terminated strings that Parse and Bind begin with.</summary>
    private ref struct CStrings(ReadOnlySequence<byte> payload)
    {
        private ReadOnlySequence<byte> _rest = payload;

        public string Next()
        {
            var reader = new SequenceReader<byte>(_rest);
            if (!reader.TryReadTo(out ReadOnlySequence<byte> text, 0))
            {
                _rest = default;
                return "";
            }

            _rest = reader.UnreadSequence;
            return Encoding.UTF8.GetString(text);
        }

        public readonly ReadOnlySequence<byte> Rest() => _rest;
    }
}
