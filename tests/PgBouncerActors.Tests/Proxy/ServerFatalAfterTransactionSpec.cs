using System.Buffers;
using System.IO.Pipelines;
using PgBouncerActors.Configuration;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Proxy;
using Xunit;

namespace PgBouncerActors.Tests.Proxy;

/// <summary>
/// A server connection terminated just as its client's transaction ended (pg_terminate_backend, a
/// restart) says ReadyForQuery and then FATAL, often in one read. In transaction and statement
/// modes the connection was as good as back in the pool: PgBouncer closes it there and the client
/// never hears of it, so its next transaction runs on another connection. In session mode the
/// connection is the client's own, which must hear why it is gone.
/// </summary>
public sealed class ServerFatalAfterTransactionSpec
{
    private static readonly byte[] AnswerThenTerminated = new MessageBuilder()
        .CommandComplete("SELECT 1").ReadyForQuery()
        .Error(PgError.FatalError("57P01", "terminating connection due to administrator command")).ToArray();

    private static readonly byte[] Answer = new MessageBuilder().CommandComplete("SELECT 1").ReadyForQuery().ToArray();

    [Theory]
    [InlineData(PoolMode.Transaction)]
    [InlineData(PoolMode.Statement)]
    public void In_pooled_modes_a_FATAL_after_the_transaction_ended_is_kept_from_the_client_and_the_connection_is_given_up(PoolMode mode)
    {
        var link = new ClientLink();
        link.Tracker.ClientSent((byte)'Q');
        var (forwarded, stop) = Forward(link, mode);

        Assert.Equal(Convert.ToHexString(Answer), Convert.ToHexString(forwarded));
        Assert.True(stop, "the reader is asked to give the connection up at once");
        Assert.Equal("57P01", link.FatalAfterTransaction?.SqlState);
        Assert.Null(link.ServerFatal);
        Assert.True(link.IsClean, "the client is between transactions, free to take another connection");
    }

    [Fact]
    public void A_FATAL_while_the_client_still_waits_for_an_answer_reaches_it()
    {
        var link = new ClientLink();
        link.Tracker.ClientSent((byte)'Q');
        link.Tracker.ClientSent((byte)'Q'); // a second query, sent before the first one's answer came
        var (forwarded, _) = Forward(link, PoolMode.Transaction);

        Assert.Equal(Convert.ToHexString(AnswerThenTerminated), Convert.ToHexString(forwarded));
        Assert.Equal("57P01", link.ServerFatal?.SqlState);
        Assert.Null(link.FatalAfterTransaction);
    }

    [Fact]
    public void In_session_mode_the_client_hears_the_FATAL_of_its_own_connection()
    {
        var link = new ClientLink();
        link.Tracker.ClientSent((byte)'Q');
        var (forwarded, _) = Forward(link, PoolMode.Session);

        Assert.Equal(Convert.ToHexString(AnswerThenTerminated), Convert.ToHexString(forwarded));
        Assert.Equal("57P01", link.ServerFatal?.SqlState);
    }

    private static (byte[] Forwarded, bool Stop) Forward(ClientLink link, PoolMode mode)
    {
        var source = new Pipe();
        var destination = new Pipe();
        source.Writer.Write(AnswerThenTerminated);
        _ = source.Writer.FlushAsync().AsTask().Result;
        Assert.True(source.Reader.TryRead(out var read));
        var inspector = new ServerToClientInspector(link, new Dictionary<string, string>(), mode,
            mode == PoolMode.Session ? null : new Dictionary<string, string>());
        var forwarded = FrameForwarder.Copy(source.Reader, read, destination.Writer, inspector, 1 << 20, link.ToClient);
        _ = destination.Writer.FlushAsync().AsTask().Result;
        destination.Writer.Complete();
        Assert.True(destination.Reader.TryRead(out var written));
        return (written.Buffer.ToArray(), forwarded.Stop);
    }
}
