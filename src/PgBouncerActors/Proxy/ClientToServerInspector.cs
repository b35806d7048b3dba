using System.Buffers;
using System.Text;
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
/// </summary>
/// <param name="startupSettings">The client's startup settings, re-applied after a reset; empty: nothing to re-apply.</param>
internal sealed class ClientToServerInspector(ServerLinkState state, IReadOnlyDictionary<string, string> startupSettings) : IFrameInspector
{
    private ReadOnlyMemory<byte> _injection;
    private Dictionary<string, IReadOnlyList<SettingsReset>>? _resetStatements; // prepared statement name -> the resets it makes
    private List<SettingsReset>? _resetsBeforeSync;

    private bool Watching => startupSettings.Count > 0;

    public FrameDecision OnHeader(byte code, int length)
    {
        if (FrontendMessageRules.Refusal(code, length) is { } refusal)
        {
            state.ClientViolation = PgError.FatalError(SqlStates.ProtocolViolation, refusal);
            return FrameDecision.Stop;
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
        Sent(code);
        switch ((FrontendMessageCode)code)
        {
            case FrontendMessageCode.Query:
                Inject(SettingsReset.FindIn(payload));
                break;
            case FrontendMessageCode.Parse:
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

                break;
            case FrontendMessageCode.Bind:
                var bind = new CStrings(payload);
                bind.Next(); // the portal
                if (_resetStatements?.GetValueOrDefault(bind.Next()) is { } bound)
                {
                    (_resetsBeforeSync ??= []).AddRange(bound);
                }

                break;
            case FrontendMessageCode.Sync:
                Inject(_resetsBeforeSync ?? []);
                _resetsBeforeSync = null;
                break;
        }

        return FrameDecision.Pass;
    }

    public ReadOnlyMemory<byte> TakeInjection()
    {
        var injection = _injection;
        _injection = default;
        return injection;
    }

    /// <summary>Which messages must be seen whole: short Query and Parse (a reset is short), and, once a statement resets, its Binds and the Sync after them.</summary>
    private bool WantsToRead(byte code, int length) => (FrontendMessageCode)code switch
    {
        FrontendMessageCode.Query or FrontendMessageCode.Parse => length <= SettingsReset.LongestQueryLooked,
        // A reset statement has no parameters: a long Bind is not for one.
        FrontendMessageCode.Bind => _resetStatements is { Count: > 0 } && length <= SettingsReset.LongestQueryLooked,
        FrontendMessageCode.Sync => _resetsBeforeSync is not null,
        _ => false,
    };

    private void Inject(IReadOnlyList<SettingsReset> resets)
    {
        if (StartupParameters.BuildReapplyQuery(startupSettings, resets) is { } reapply)
        {
            _injection = new MessageBuilder().Query(reapply).ToArray();
            state.Tracker.PoolerSent((byte)FrontendMessageCode.Query);
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
