using System.Runtime.CompilerServices;
using PgBouncerActors.Backend;
using PgBouncerActors.Proxy;
using PgBouncerActors.Tests.Shared;
using Xunit;

namespace PgBouncerActors.Tests.Proxy;

/// <summary>
/// The states of a client's link and who may move it where: the client loop (wait, attach, write),
/// the server's reader (give the connection back) and the session (stop). Each rule here is one
/// that keeps a connection from having two owners, or a client from waiting on nobody.
/// </summary>
public sealed class LinkStateMachineSpec : IDisposable
{
    private readonly System.Net.Sockets.Socket _peer;
    private readonly ServerConnection _server;

    public LinkStateMachineSpec()
    {
        (var socket, _peer) = LoopbackSockets.Connect();
        _server = new ServerConnection(socket, new ServerEndpoint("127.0.0.1", 5432, "app"), "alice", 1 << 20);
    }

    private LinkStateMachine Linked()
    {
        var machine = new LinkStateMachine();
        Assert.True(machine.TryBeginWaiting());
        Assert.True(machine.TryAttach(_server));
        Assert.Equal(LinkOutcome.Linked, machine.TryLink(_server));
        return machine;
    }

    [Fact]
    public void A_request_takes_the_link_from_free_through_waiting_and_attaching_to_linked_holding_the_connection()
    {
        var machine = new LinkStateMachine();
        Assert.Equal((LinkState.Free, null), (machine.State, machine.Server));
        Assert.True(machine.TryBeginWaiting());
        Assert.Equal(LinkState.Waiting, machine.State);
        Assert.True(machine.TryAttach(_server));
        Assert.Equal((LinkState.Attaching, _server), (machine.State, machine.Server));
        Assert.False(machine.Forwarding(_server)); // its answers are the pooler's own until it is linked
        Assert.Equal(LinkOutcome.Linked, machine.TryLink(_server));
        Assert.Equal((LinkState.Linked, _server), (machine.State, machine.Server));
        Assert.True(machine.Forwarding(_server));
    }

    [Fact]
    public void A_connection_whose_reader_ended_while_it_was_brought_in_line_is_not_linked_and_nobody_reports_its_loss_but_the_client_loop()
    {
        var machine = new LinkStateMachine();
        machine.TryBeginWaiting();
        machine.TryAttach(_server);
        Assert.False(machine.HoldsForUse(_server)); // attaching: the client loop finds out itself, and takes another
        _server.ReaderStopped("the server closed the connection", null);
        Assert.Equal(LinkOutcome.Dead, machine.TryLink(_server));
        Assert.Equal(LinkState.Attaching, machine.State);
    }

    [Fact]
    public void A_link_holding_its_connection_for_use_is_the_one_to_report_its_loss_and_still_is_once_stopped()
    {
        var machine = Linked();
        Assert.True(machine.HoldsForUse(_server));
        machine.Stop();
        Assert.True(machine.HoldsForUse(_server)); // its session waits for the reader: the loss ends that wait
        machine.TakeServerAfterStop();
        Assert.False(machine.HoldsForUse(_server)); // given back: whatever happens to it now is not this link's
    }

    [Fact]
    public void A_settled_clean_connection_goes_back_and_the_link_is_free_again()
    {
        var machine = Linked();
        Assert.Equal(ReleaseOutcome.Released, machine.TryRelease(_server, static _ => true, 0));
        Assert.Equal((LinkState.Free, null), (machine.State, machine.Server));
        Assert.False(machine.Forwarding(_server));
        Assert.Null(machine.TryBeginWrite()); // the client loop asks for a connection again
    }

    [Fact]
    public void A_connection_that_is_not_clean_is_kept()
    {
        var machine = Linked();
        Assert.Equal(ReleaseOutcome.Kept, machine.TryRelease(_server, static _ => false, 0));
        Assert.Equal((LinkState.Linked, _server), (machine.State, machine.Server));
    }

    [Fact]
    public void While_the_client_writes_no_release_happens_and_the_writer_learns_that_one_was_wanted()
    {
        var machine = Linked();
        Assert.Same(_server, machine.TryBeginWrite());
        var asked = new StrongBox<bool>();
        Assert.Equal(ReleaseOutcome.Deferred, machine.TryRelease(_server, static asked => asked.Value = true, asked));
        Assert.False(asked.Value); // not even judged: the bytes on their way may be the next request
        Assert.Equal(LinkState.WritingReleaseWanted, machine.State);
        Assert.True(machine.EndWrite()); // the writer has the reader judge again
        Assert.Equal(LinkState.Linked, machine.State);
        Assert.False(machine.EndWrite()); // and only once
    }

    [Fact]
    public void A_write_with_no_release_wanted_ends_quietly()
    {
        var machine = Linked();
        Assert.Same(_server, machine.TryBeginWrite());
        Assert.Null(machine.TryBeginWrite()); // one writer at a time
        Assert.False(machine.EndWrite());
        Assert.Equal(LinkState.Linked, machine.State);
    }

    [Fact]
    public void A_release_for_another_connection_changes_nothing()
    {
        var machine = Linked();
        var (other, peer) = LoopbackSockets.Connect();
        using var _ = peer;
        var stranger = new ServerConnection(other, new ServerEndpoint("127.0.0.1", 5432, "app"), "alice", 1 << 20);
        Assert.Equal(ReleaseOutcome.Kept, machine.TryRelease(stranger, static _ => true, 0));
        Assert.Equal((LinkState.Linked, _server), (machine.State, machine.Server));
    }

    [Fact]
    public void Once_stopped_nothing_moves_the_link_and_the_session_takes_the_connection_once()
    {
        var machine = Linked();
        Assert.Equal((LinkState.Linked, _server), machine.Stop());
        Assert.Equal(LinkState.Stopped, machine.State);
        Assert.False(machine.TryBeginWaiting());
        Assert.Null(machine.TryBeginWrite());
        Assert.Equal(ReleaseOutcome.Kept, machine.TryRelease(_server, static _ => true, 0));
        Assert.True(machine.Forwarding(_server)); // the reader still serves the link: it stops at a message boundary and holds
        Assert.Equal((LinkState.Stopped, null), machine.Stop()); // once
        Assert.Same(_server, machine.TakeServerAfterStop());
        Assert.Null(machine.TakeServerAfterStop());
    }

    [Fact]
    public void Stopped_while_writing_the_write_ends_without_asking_the_reader_to_look()
    {
        var machine = Linked();
        Assert.Same(_server, machine.TryBeginWrite());
        Assert.Equal((LinkState.Writing, _server), machine.Stop());
        Assert.False(machine.EndWrite());
        Assert.Equal(LinkState.Stopped, machine.State);
    }

    [Fact]
    public void Stopped_while_attaching_the_connection_stays_with_the_client_loop_that_got_it()
    {
        var machine = new LinkStateMachine();
        machine.TryBeginWaiting();
        machine.TryAttach(_server);
        Assert.Equal((LinkState.Attaching, _server), machine.Stop());
        Assert.Null(machine.TakeServerAfterStop()); // not the session's: the client loop gives it back
        Assert.Equal(LinkOutcome.Stopped, machine.TryLink(_server));
        Assert.False(machine.TryDetach()); // stopped: the caller gives it back all the same
        Assert.Null(machine.Server);
    }

    [Fact]
    public void Stopped_while_waiting_a_connection_granted_late_cannot_attach()
    {
        var machine = new LinkStateMachine();
        machine.TryBeginWaiting();
        Assert.Equal((LinkState.Waiting, null), machine.Stop());
        Assert.False(machine.TryAttach(_server)); // the grant raced the stop: the caller checks it back in
        Assert.Null(machine.Server);
        Assert.Null(machine.TakeServerAfterStop());
    }

    [Fact]
    public void A_wait_that_fails_leaves_the_link_free_for_the_next_request()
    {
        var machine = new LinkStateMachine();
        machine.TryBeginWaiting();
        Assert.True(machine.TryStopWaiting());
        Assert.Equal(LinkState.Free, machine.State);
        Assert.True(machine.TryBeginWaiting());
    }

    [Fact]
    public void A_connection_that_fails_its_check_leaves_the_link_free_to_wait_again()
    {
        var machine = new LinkStateMachine();
        machine.TryBeginWaiting();
        machine.TryAttach(_server);
        Assert.True(machine.TryDetach());
        Assert.Equal((LinkState.Free, null), (machine.State, machine.Server));
        Assert.True(machine.TryBeginWaiting());
    }

    [Fact]
    public void The_logins_connection_is_held_until_the_welcome_is_out_then_linked_or_given_back()
    {
        var session = new LinkStateMachine();
        session.TryBeginWaiting();
        session.TryAttach(_server);
        Assert.True(session.TryHoldAttached());
        Assert.Equal(LinkState.Attached, session.State);
        Assert.False(session.Forwarding(_server));
        Assert.Equal(LinkOutcome.Linked, session.TryLink(_server));
        Assert.Equal(LinkState.Linked, session.State);

        var pooled = new LinkStateMachine();
        pooled.TryBeginWaiting();
        pooled.TryAttach(_server);
        pooled.TryHoldAttached();
        Assert.Same(_server, pooled.TryReleaseAttached());
        Assert.Equal((LinkState.Free, null), (pooled.State, pooled.Server));
    }

    [Fact]
    public void Stopped_while_holding_the_logins_connection_the_session_gives_it_back_and_no_reader_holds_for_it()
    {
        var machine = new LinkStateMachine();
        machine.TryBeginWaiting();
        machine.TryAttach(_server);
        machine.TryHoldAttached();
        Assert.Equal((LinkState.Attached, _server), machine.Stop());
        Assert.False(machine.Forwarding(_server));
        Assert.Same(_server, machine.TakeServerAfterStop());
    }

    public void Dispose()
    {
        _server.Socket.Abort();
        _peer.Dispose();
    }
}
