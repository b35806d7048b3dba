using System.Diagnostics;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Tests.Simulation;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// Many clients at once send valid sessions with random mutations (bytes flipped, lengths
/// changed, messages cut, duplicated or dropped, garbage inserted), in random slices, through a
/// pool of two server connections that innocent clients share. The seed is fixed, or taken from
/// PGBA_FUZZ_SEED to explore (a failure prints it).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class WireFuzzSpec(PostgresFixture postgres, ITestOutputHelper output)
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(20);
    private const int HostileWorkers = 12;

    [Fact]
    public async Task Mutated_sessions_from_many_clients_harm_no_innocent_session_and_memory_stays_bounded()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("PGBA_FUZZ_SEED"), out var given) ? given : 20261201;
        await postgres.Cluster.RunSqlAsync($"create table if not exists fuzz_copy(x int); grant all on fuzz_copy to {PostgresFixture.ScramUser};");
        await using var pooler = postgres.StartPooler("auth_type = trust, pool_mode = transaction, default_pool_size = 2, max_client_conn = 200, " +
                                                      "query_wait_timeout = 60, idle_transaction_timeout = 2, query_timeout = 10");
        await using var innocents = new InnocentClients(pooler.Port, 3);
        await innocents.RunningAsync();
        GC.Collect();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);

        var sessions = 0L;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, HostileWorkers).Select(worker => Task.Run(async () =>
        {
            var random = new Random(seed + worker);
            while (clock.Elapsed < Duration)
            {
                await HostileSessionAsync(pooler.Port, random);
                Interlocked.Increment(ref sessions);
            }
        })));

        await innocents.RunningAsync();
        var memoryAfter = GC.GetTotalMemory(forceFullCollection: true);
        output.WriteLine($"seed {seed}: {sessions} mutated sessions, {innocents.Queries} innocent queries, " +
                         $"managed memory {memoryBefore / 1024} KB -> {memoryAfter / 1024} KB, {pooler.Stats.ServerLoginAttempts} server logins");

        Assert.True(innocents.Harm.Count == 0, $"seed {seed}: {string.Join("; ", innocents.Harm)}");
        Assert.True(sessions > 100, $"only {sessions} sessions ran");
        Assert.True(memoryAfter - memoryBefore < 64 * 1024 * 1024, $"managed memory grew by {(memoryAfter - memoryBefore) / 1024} KB");
        var deadline = DateTime.UtcNow.AddSeconds(15); // every hostile session ended: only the innocent ones are left
        while (await pooler.CountSessionsAsync() > 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal(3, await pooler.CountSessionsAsync());
    }

    /// <summary>Logs in, sends a mutated session in random slices, reads for a moment, and goes (with or without Terminate).</summary>
    private static async Task HostileSessionAsync(int port, Random random)
    {
        WireClient? client = null;
        try
        {
            client = await WireClient.ConnectAsync(port);
            await client.LoginAsync(PostgresFixture.ScramUser, "postgres");
            var session = Mutate(Session(random), random);
            for (var at = 0; at < session.Length;)
            {
                var slice = Math.Min(session.Length - at, random.Next(1, 512));
                await client.Socket.SendAsync(session.AsMemory(at, slice));
                at += slice;
            }

            using var listening = new CancellationTokenSource(TimeSpan.FromMilliseconds(random.Next(10, 150)));
            while (!listening.IsCancellationRequested)
            {
                var result = await client.Socket.Input.ReadAsync(listening.Token);
                client.Socket.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or System.Net.Sockets.SocketException or TimeoutException
                                      or Protocol.Framing.FramingException)
        {
            // refused, closed on it, or still talking: each is fine for a hostile session
        }
        finally
        {
            if (client is not null)
            {
                if (random.Next(2) == 0)
                {
                    await client.Socket.CloseWithAsync(new MessageBuilder().Terminate().WrittenMemory);
                }
                else
                {
                    client.Socket.Abort();
                }
            }
        }
    }

    /// <summary>A valid session of one to eight steps drawn from what drivers send, message by message.</summary>
    private static List<byte[]> Session(Random random)
    {
        var messages = new List<byte[]>();
        void Add(Func<MessageBuilder, MessageBuilder> message) => messages.Add(message(new MessageBuilder()).ToArray());

        for (var step = random.Next(1, 9); step > 0; step--)
        {
            switch (random.Next(10))
            {
                case 0:
                    Add(b => b.Query($"select {random.Next()}"));
                    break;
                case 1:
                    Add(b => b.Query("begin"));
                    Add(b => b.Query("select 1"));
                    Add(b => b.Query(random.Next(2) == 0 ? "commit" : "rollback"));
                    break;
                case 2:
                    Add(b => b.Parse("", "select 1"));
                    Add(b => b.Bind("", ""));
                    Add(b => b.Describe('P', ""));
                    Add(b => b.Execute(""));
                    Add(b => b.Sync());
                    break;
                case 3:
                    Add(b => b.Query("copy fuzz_copy from stdin"));
                    Add(b => b.CopyData("1\n2\n"u8));
                    Add(b => random.Next(2) == 0 ? b.CopyDone() : b.CopyFail("fuzz"));
                    break;
                case 4:
                    Add(b => b.Flush());
                    break;
                case 5:
                    Add(b => b.Sync());
                    break;
                case 6:
                    Add(b => b.Parse("", "selec broken"));
                    Add(b => b.Bind("", ""));
                    Add(b => b.Query("select 2"));
                    Add(b => b.Sync());
                    break;
                case 7:
                    Add(b => b.Parse("s1", "select 2"));
                    Add(b => b.Sync());
                    Add(b => b.Bind("", "s1"));
                    Add(b => b.Execute(""));
                    Add(b => b.Sync());
                    break;
                case 8:
                    Add(b => b.Query("set TimeZone = 'Asia/Tokyo'"));
                    Add(b => b.Query("reset all"));
                    break;
                default:
                    Add(b => b.Query("copy (select generate_series(1, 100)) to stdout"));
                    break;
            }
        }

        return messages;
    }

    /// <summary>
    /// Up to four mutations, each either of a whole message (its type byte replaced, its length
    /// changed, a message of a random type added, one dropped or repeated) or of the bytes (a
    /// byte flipped, the stream cut, garbage inserted).
    /// </summary>
    private static byte[] Mutate(List<byte[]> messages, Random random)
    {
        for (var mutation = random.Next(0, 5); mutation > 0 && messages.Count > 0; mutation--)
        {
            var at = random.Next(messages.Count);
            var message = messages[at];
            if (message.Length < 5)
            {
                continue; // already cut down to less than a header
            }

            switch (random.Next(8))
            {
                case 0:
                    message[0] = (byte)random.Next(256);
                    break;
                case 1:
                    var length = random.Next(3) switch { 0 => random.Next(), 1 => random.Next(0, 10), _ => message.Length - 1 + random.Next(-3, 4) };
                    System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), length);
                    break;
                case 2:
                    messages.Insert(random.Next(messages.Count + 1),
                        new MessageBuilder().Begin((byte)random.Next(256)).WriteBytes(Garbage(random, 16)).End().ToArray());
                    break;
                case 3:
                    messages.RemoveAt(at);
                    break;
                case 4:
                    messages.Insert(at, message);
                    break;
                case 5:
                    message[random.Next(message.Length)] = (byte)random.Next(256);
                    break;
                case 6:
                    messages[at] = message[..random.Next(message.Length)];
                    messages.RemoveRange(at + 1, messages.Count - at - 1);
                    break;
                default:
                    messages.Insert(at, Garbage(random, 20));
                    break;
            }
        }

        return [.. messages.SelectMany(message => message)];
    }

    private static byte[] Garbage(Random random, int most)
    {
        var bytes = new byte[random.Next(1, most)];
        random.NextBytes(bytes);
        return bytes;
    }
}
