using System.Buffers;
using PgBouncerActors.Protocol;

namespace PgBouncerActors.Proxy;

/// <summary>Client to server: counts the requests that will each be answered by one ReadyForQuery; stops at Terminate.</summary>
internal sealed class ClientToServerInspector(ServerLinkState state) : IFrameInspector
{
    public FrameDecision OnHeader(byte code, int length)
    {
        switch ((FrontendMessageCode)code)
        {
            case FrontendMessageCode.Terminate:
                return FrameDecision.Stop; // the session ends; the server connection stays open for reuse
            case FrontendMessageCode.Query:
            case FrontendMessageCode.FunctionCall:
                state.RequestSent();
                break;
            case FrontendMessageCode.Sync:
                state.SyncSent();
                break;
            case FrontendMessageCode.Parse:
            case FrontendMessageCode.Bind:
            case FrontendMessageCode.Describe:
            case FrontendMessageCode.Execute:
            case FrontendMessageCode.Close:
            case FrontendMessageCode.Flush:
                state.ExtendedMessageSent();
                break;
        }

        return FrameDecision.Pass;
    }

    public FrameDecision OnFrame(byte code, ReadOnlySequence<byte> payload) => FrameDecision.Pass;
}
