using PgBouncerActors.Proxy;
using Xunit;

namespace PgBouncerActors.Tests.Proxy;

/// <summary>
/// The tracker against PostgreSQL's own reading of a connection: client messages as type letters
/// (Q, P, B, D, E, C, H, S, F, d, c, f), server messages likewise ('Z' is an idle ReadyForQuery,
/// 'z' one inside a transaction). Each case is what PostgreSQL 15 answers to that stream.
/// </summary>
public sealed class ProtocolTrackerSpec
{
    private static ProtocolTracker Sent(string client, ProtocolTracker? tracker = null)
    {
        tracker ??= new ProtocolTracker();
        foreach (var code in client)
        {
            tracker.ClientSent((byte)code);
        }

        return tracker;
    }

    /// <returns>The messages the client must not see (answers to the pooler's own requests).</returns>
    private static string Answered(ProtocolTracker tracker, string server)
    {
        var swallowed = "";
        foreach (var code in server)
        {
            var owned = code switch
            {
                'Z' => tracker.OnReadyForQuery((byte)'I'),
                'z' => tracker.OnReadyForQuery((byte)'T'),
                _ => tracker.OnServerMessage((byte)code) != AnswerFate.Pass,
            };
            swallowed += owned ? code.ToString() : "";
        }

        return swallowed;
    }

    [Theory]
    [InlineData("Q", "TDCZ")] // a simple query
    [InlineData("QQ", "CZTDCZ")] // pipelined simple queries
    [InlineData("PBDES", "12TDCZ")] // the extended protocol, as pgbench -M extended
    [InlineData("PDS", "1tTZ")] // Describe of a statement: ParameterDescription, then RowDescription
    [InlineData("PBDEPBDES", "12nC12TDCZ")] // two statements, one Sync, as Npgsql batches them
    [InlineData("PBES", "1EZ")] // Bind fails: Execute is skipped, the Sync answered
    [InlineData("PQS", "EZ")] // Parse fails: the Query before Sync is skipped too, with no ReadyForQuery of its own
    [InlineData("QSf", "GEZ")] // COPY FROM, a Sync the server ignores during COPY IN, then CopyFail
    [InlineData("Qddc", "GCZ")] // COPY FROM completed
    [InlineData("QSddHc", "GCZ")] // Sync and Flush inside the COPY data are ignored
    [InlineData("PBESddcS", "12GCZ")] // libpq's extended COPY: the first Sync is eaten by the COPY, the second answered
    [InlineData("Q", "HddcCZ")] // COPY TO STDOUT
    [InlineData("Qdf", "GEZ")] // COPY FROM ended by CopyFail
    [InlineData("H", "")] // Flush alone is never answered
    [InlineData("Qdc", "CZ")] // CopyData and CopyDone outside COPY are ignored
    [InlineData("F", "VZ")] // a function call
    [InlineData("PBESH", "12CZ")] // a trailing Flush after the Sync needs no answer
    public void A_stream_PostgreSQL_has_answered_completely_leaves_the_connection_settled(string client, string server)
    {
        var tracker = Sent(client);
        Answered(tracker, server);
        Assert.True(tracker.IsSettled, tracker.Describe());
        Assert.Equal(0, tracker.Awaiting);
        Assert.Equal(0, tracker.BusySince);
    }

    [Theory]
    [InlineData("QQ", "CZ", "1 message(s) awaiting results")] // the second Query is still owed
    [InlineData("PBE", "12C", "extended-protocol batch without Sync")] // the server holds an implicit transaction until Sync
    [InlineData("Q", "G", "in COPY")]
    [InlineData("PES", "E", "skipping to Sync after an error")]
    [InlineData("Q", "Cz", "inside a transaction")]
    public void A_stream_not_yet_answered_or_inside_a_transaction_keeps_the_connection(string client, string server, string state)
    {
        var tracker = Sent(client);
        Answered(tracker, server);
        Assert.False(tracker.IsSettled);
        Assert.Equal(state, tracker.Describe());
    }

    [Fact]
    public void Messages_sent_after_an_error_while_the_server_skips_to_Sync_are_skipped_as_they_arrive()
    {
        var tracker = Sent("PB");
        Answered(tracker, "E"); // Parse failed
        Sent("EQ", tracker); // the client goes on without knowing: the server discards these
        Assert.False(tracker.IsSettled);
        Sent("S", tracker);
        Answered(tracker, "Z");
        Assert.True(tracker.IsSettled, tracker.Describe());
    }

    [Fact]
    public void A_copy_aborted_by_a_data_error_ignores_the_copy_data_the_client_keeps_sending()
    {
        var tracker = Sent("Qdd");
        Answered(tracker, "GEZ"); // a bad row: the COPY fails while the client is still streaming
        Sent("ddc", tracker);
        Assert.True(tracker.IsSettled, tracker.Describe());
    }

    [Fact]
    public void The_answers_to_the_poolers_own_query_are_swallowed_except_parameter_changes()
    {
        var tracker = Sent("Q");
        tracker.PoolerSent((byte)'Q');
        Assert.Equal("", Answered(tracker, "CZ")); // the client's own
        Assert.Equal("NTDCZ", Answered(tracker, "SNTDCZ")); // ParameterStatus reaches the client
        Assert.True(tracker.IsSettled, tracker.Describe());
    }

    [Theory]
    [InlineData("", "C")] // nothing outstanding
    [InlineData("Q", "ZZ")] // one ReadyForQuery too many
    [InlineData("P", "2")] // BindComplete for a Parse
    [InlineData("Q", "GC")] // a COPY FROM completed without its CopyDone
    [InlineData("Q", "W")] // CopyBoth (replication) through a pooled connection
    public void An_answer_the_protocol_does_not_allow_loses_track_and_the_connection_is_never_settled_again(string client, string server)
    {
        var tracker = Sent(client);
        Answered(tracker, server);
        Assert.True(tracker.LostTrack);
        Sent("Q", tracker);
        Answered(tracker, "CZ");
        Assert.False(tracker.IsSettled);
        Assert.StartsWith("lost track of the protocol", tracker.Describe());
    }

    [Fact]
    public void The_busy_clock_runs_from_the_first_unanswered_message_and_restarts_at_each_answer_while_more_are_owed()
    {
        var tracker = Sent("H");
        Assert.Equal(0, tracker.BusySince); // a Flush expects nothing
        Sent("Q", tracker);
        var since = tracker.BusySince;
        Assert.True(since > 0);
        Sent("Q", tracker);
        Assert.Equal(since, tracker.BusySince); // a pipelined query does not restart it
        Answered(tracker, "CZ");
        Assert.True(tracker.BusySince > since); // the second query's time (query_timeout, SHOW STATS) counts from the first's answer
        Answered(tracker, "CZ");
        Assert.Equal(0, tracker.BusySince);
        Assert.Equal(2, tracker.Counters.Read(0, 0).Queries);
        Assert.Equal(2, tracker.Counters.Read(0, 0).Transactions);
    }

    [Fact]
    public void A_long_pipeline_grows_the_queue_and_is_answered_in_order()
    {
        var tracker = Sent(string.Concat(Enumerable.Repeat("BE", 5000)) + "S");
        Assert.Equal(10001, tracker.Awaiting);
        Answered(tracker, string.Concat(Enumerable.Repeat("2DC", 5000)) + "Z");
        Assert.True(tracker.IsSettled, tracker.Describe());
    }
}
