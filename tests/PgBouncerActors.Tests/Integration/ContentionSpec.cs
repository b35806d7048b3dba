using System.Collections.Concurrent;
using System.Diagnostics;
using Npgsql;
using PgBouncerActors.Admin;
using PgBouncerActors.Hosting;
using PgBouncerActors.Proxy;
using PgBouncerActors.Tests.Simulation;
using Xunit;
using Xunit.Abstractions;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// The pooler's worst failure is a client that waits forever. Here two thousand clients share
/// pools of one to three server connections in transaction and statement modes, with every kind
/// of traffic (Npgsql's extended protocol, prepared statements, transactions, a connection per
/// transaction, pgbench's simple, extended and prepared modes) while cancels, clients vanishing
/// mid-transaction, server connections killed on the server, PAUSE/RESUME, RECONNECT, KILL and
/// RELOAD hit it. Every request must end, with an answer or an error, within a bound; no
/// acknowledged commit may be lost or counted twice; and once the load stops the pooler's books
/// (SHOW POOLS, SERVERS, CLIENTS, and every client's link) must agree with pg_stat_activity.
/// About a minute in CI; PGBA_CONTENTION_SECONDS makes it run longer (3600: an hour).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ContentionSpec(PostgresFixture postgres, ITestOutputHelper output)
{
    private const int Clients = 2000;

    /// <summary>Every request ends within this: query_wait_timeout (20 s) plus a pause's or a kill's worth.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(45);

    private static readonly string[] Databases = ["tx1", "tx3", "st2"];

    private static TimeSpan Duration =>
        TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("PGBA_CONTENTION_SECONDS"), out var seconds) && seconds > 0 ? seconds : 60);

    private string Pools(int tx3Size) => $$"""
        tx1 { host = 127.0.0.1, port = {{postgres.Cluster.Port}}, dbname = bench, pool_size = 1, pool_mode = transaction }
        tx3 { host = 127.0.0.1, port = {{postgres.Cluster.Port}}, dbname = bench, pool_size = {{tx3Size}}, pool_mode = transaction }
        st2 { host = 127.0.0.1, port = {{postgres.Cluster.Port}}, dbname = bench, pool_size = 2, pool_mode = statement }
        """;

    private const string PgBouncer =
        $"auth_type = trust, admin_users = {PostgresFixture.ScramUser}, query_wait_timeout = 20, max_client_conn = 5000";

    [Fact]
    public async Task Thousands_of_clients_over_pools_of_one_to_three_under_cancels_kills_and_console_commands_all_get_answers_and_the_books_agree()
    {
        await postgres.EnsurePgbenchInitializedAsync();
        await using (var direct = new NpgsqlConnection(postgres.DirectConnectionString("bench")))
        {
            await direct.OpenAsync();
            await using var create = new NpgsqlCommand($"""
                drop table if exists contention;
                create table contention (client int not null, n int not null);
                grant all on contention to {PostgresFixture.ScramUser};
                """, direct);
            await create.ExecuteNonQueryAsync();
        }

        var log = new LogCapture();
        await using var pooler = postgres.StartPooler(PgBouncer + ", log_disconnections = 1", databases: Pools(3), log: log, own: "link_watchdog = 3s",
            fallback: false);
        var outcomes = new Outcomes();
        using var stop = new CancellationTokenSource(Duration);
        var clock = Stopwatch.StartNew();

        var pgbenchRuns = new[] { ("tx1", "-M simple"), ("tx3", "-M prepared"), ("st2", "-M extended"), ("tx3", "-C -M simple") }
            .Select(run => RunPgbenchAsync(pooler.Port, run.Item1, run.Item2, outcomes, stop.Token)).ToList();
        var clients = Enumerable.Range(0, Clients).Select(client => new Worker(client, pooler.Port, outcomes)).ToList();
        var workers = clients.Select(client => Task.Run(() => client.RunAsync(stop.Token))).ToList();
        var disruptions = DisruptAsync(pooler, outcomes, stop.Token);
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                output.WriteLine($"  {clock.Elapsed.TotalSeconds,3:0}s threads {ThreadPool.ThreadCount} queued {ThreadPool.PendingWorkItemCount} answered {outcomes.Answered}");
                await Task.Delay(5000);
            }
        });

        var everything = Task.WhenAll(workers.Append(disruptions).Concat(pgbenchRuns));
        if (await Task.WhenAny(everything, Task.Delay(Duration + Bound + TimeSpan.FromMinutes(2))) != everything)
        {
            var unfinished = clients.Where((_, i) => !workers[i].IsCompleted).Select(client => client.Doing)
                .Concat(pgbenchRuns.Where(run => !run.IsCompleted).Select(_ => "a pgbench run")).Append(disruptions.IsCompleted ? "" : "the disruptions")
                .Where(what => what.Length > 0).ToList();
            Assert.Fail($"{clock.Elapsed.TotalSeconds:0}s after the load began, {unfinished.Count} had not ended: {string.Join("; ", unfinished.Take(20))}" +
                        $"\nrequests without an answer within {Bound.TotalSeconds:0}s: {string.Join("; ", outcomes.Hangs.Take(20))}");
        }

        output.WriteLine($"{clock.Elapsed.TotalSeconds:0}s of load: {outcomes}");
        foreach (var reason in log.Lines.Where(line => line.StartsWith("client logout", StringComparison.Ordinal))
                     .Select(line => line[(line.IndexOf("reason=", StringComparison.Ordinal) + 7)..]).Select(reason => reason.Length > 90 ? reason[..90] : reason)
                     .GroupBy(reason => reason).OrderByDescending(group => group.Count()))
        {
            output.WriteLine($"  logout {reason.Count(),6}: {reason.Key}");
        }

        foreach (var line in log.Lines.Where(line => line.Contains("xception", StringComparison.Ordinal) || line.StartsWith("client cut off", StringComparison.Ordinal)).Take(10))
        {
            output.WriteLine($"  log: {line}");
        }

        if (!outcomes.Unexpected.IsEmpty)
        {
            // What the pooler said of the sessions that ended neither by the client's goodbye nor by KILL, long-lived ones first
            // (pgbench's connections live for its whole run; the workers' vanishing ones for a moment).
            foreach (var line in log.Lines.Where(line => line.StartsWith("client logout", StringComparison.Ordinal) &&
                                                         !line.Contains("reason=client sent Terminate", StringComparison.Ordinal) &&
                                                         !line.Contains("reason=KILL", StringComparison.Ordinal))
                         .OrderByDescending(line => line.Contains("(age=0s)", StringComparison.Ordinal) ? 0 : 1).Take(40))
            {
                output.WriteLine($"  unusual end: {line}");
            }
        }

        Assert.True(outcomes.Hangs.IsEmpty, $"requests that did not end within {Bound.TotalSeconds:0}s:\n{string.Join("\n", outcomes.Hangs.Take(20))}");
        Assert.True(outcomes.Unexpected.IsEmpty, $"failures without a SQLSTATE or a closed connection:\n{string.Join("\n", outcomes.Unexpected.Take(20))}");
        Assert.True(outcomes.Answered > Clients, $"only {outcomes.Answered} requests were answered");
        var bugs = log.Lines.Where(line => line.StartsWith("bug:", StringComparison.Ordinal)).ToList();
        Assert.True(bugs.Count == 0, $"the link watchdog reported:\n{string.Join("\n", bugs.Take(10))}");
        await NothingLostOrCountedTwiceAsync(outcomes);
        await BooksAgreeWithTheServerAsync(pooler);
    }

    /// <summary>The reading of pgbench's complaints the spec relies on, on outputs pgbench 15 wrote through the pooler.</summary>
    [Fact]
    public void A_pgbench_client_given_up_counts_as_told_only_with_a_FATAL_or_ERROR_to_account_for_it()
    {
        const string killedWhileSomeWereIdle = """
            pgbench: error: client 4 script 0 aborted in command 1 query 0: FATAL:  terminating connection: database "tx3" was killed
            FATAL:  terminating connection: database "tx3" was killed
            pgbench: error: client 6 aborted in command 1 (SQL) of script 0; perhaps the backend died while processing
            pgbench: error: FATAL:  terminating connection: database "tx3" was killed
            server closed the connection unexpectedly
            pgbench: error: client 7 aborted in command 1 (SQL) of script 0; SQL command send failed
            pgbench: error: Run was aborted; the above results are incomplete.
            """;
        Assert.Equal([true, true, true], GivenUpClients(killedWhileSomeWereIdle).Select(client => client.Told));

        const string closedUntold = """
            pgbench: error: client 5 script 0 aborted in command 1 query 0: FATAL:  terminating connection: database "tx3" was killed
            pgbench: error: client 4 aborted in command 1 (SQL) of script 0; perhaps the backend died while processing
            pgbench: error: Run was aborted; the above results are incomplete.
            """;
        Assert.Equal([true, false], GivenUpClients(closedUntold).Select(client => client.Told));
    }

    /// <summary>Every acknowledged commit is in the table once; nothing beyond what was attempted.</summary>
    private async Task NothingLostOrCountedTwiceAsync(Outcomes outcomes)
    {
        await using var direct = new NpgsqlConnection(postgres.DirectConnectionString("bench"));
        await direct.OpenAsync();
        await using var count = new NpgsqlCommand("select client, count(*), count(distinct n) from contention group by client", direct);
        await using var reader = await count.ExecuteReaderAsync();
        var rows = new Dictionary<int, (long Rows, long Distinct)>();
        while (await reader.ReadAsync())
        {
            rows[reader.GetInt32(0)] = (reader.GetInt64(1), reader.GetInt64(2));
        }

        foreach (var (client, (acknowledged, attempted)) in outcomes.Commits)
        {
            var (stored, distinct) = rows.GetValueOrDefault(client);
            Assert.True(stored == distinct, $"client {client}: a row counted twice ({stored} rows, {distinct} distinct)");
            Assert.True(stored >= acknowledged && stored <= attempted,
                $"client {client}: {stored} rows, {acknowledged} commits acknowledged, {attempted} attempted");
        }
    }

    /// <summary>
    /// With the load gone and some clients connected idle: nobody waits, nobody holds a server
    /// connection, every client's link is free, and the pooler's server connections are exactly
    /// the server's backends for them.
    /// </summary>
    private async Task BooksAgreeWithTheServerAsync(PoolerHost pooler)
    {
        var idle = new List<NpgsqlConnection>();
        foreach (var database in Databases)
        {
            for (var i = 0; i < 20; i++)
            {
                var connection = new NpgsqlConnection(PostgresFixture.ConnectionString(pooler.Port, database: database));
                await connection.OpenAsync();
                await using var touch = new NpgsqlCommand("select 1", connection);
                await touch.ExecuteScalarAsync();
                idle.Add(connection);
            }
        }

        try
        {
            await using var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.ScramUser);
            await using var direct = new NpgsqlConnection(postgres.DirectConnectionString("bench"));
            await direct.OpenAsync();
            var deadline = DateTime.UtcNow.AddSeconds(15);
            string? disagreement;
            while ((disagreement = await DisagreementAsync(pooler, console, direct)) is not null)
            {
                Assert.True(DateTime.UtcNow < deadline, disagreement);
                await Task.Delay(200); // connections closed on the way (RECONNECT, KILL) may still be saying goodbye
            }
        }
        finally
        {
            foreach (var connection in idle)
            {
                await connection.DisposeAsync();
            }
        }
    }

    private static async Task<string?> DisagreementAsync(PoolerHost pooler, ConsoleClient console, NpgsqlConnection direct)
    {
        var pools = await console.ShowAsync("SHOW POOLS");
        foreach (var database in Databases)
        {
            var (waiting, active) = (pools.Number("cl_waiting", database, PostgresFixture.ScramUser), pools.Number("sv_active", database, PostgresFixture.ScramUser));
            if (waiting != 0 || active != 0)
            {
                return $"pool {database}: cl_waiting {waiting}, sv_active {active} with every client idle";
            }
        }

        var links = pooler.Statistics.Clients.Where(client => client.Link is not null).Select(client => (client.Id, client.Link!.State)).ToList();
        if (links.FirstOrDefault(link => link.State != LinkState.Free) is { Id: not 0 } busy)
        {
            return $"client {busy.Id} is {busy.State} with no request of its own";
        }

        var clients = await console.ShowAsync("SHOW CLIENTS");
        if (clients.Rows.Count(row => Databases.Contains(row[2])) != 60)
        {
            return $"SHOW CLIENTS lists {clients.Rows.Count(row => Databases.Contains(row[2]))} clients of the three databases, not the 60 connected";
        }

        var servers = await console.ShowAsync("SHOW SERVERS");
        var listed = servers.Rows.Select(row => int.Parse(row[8]!)).Order().ToList();
        await using var backends = new NpgsqlCommand(
            $"select client_port from pg_stat_activity where datname = 'bench' and usename = '{PostgresFixture.ScramUser}' order by 1", direct);
        var server = new List<int>();
        await using (var reader = await backends.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                server.Add(reader.GetInt32(0));
            }
        }

        return listed.SequenceEqual(server) ? null
            : $"SHOW SERVERS lists local ports [{string.Join(",", listed)}], the server has backends for [{string.Join(",", server)}]";
    }

    /// <summary>
    /// pgbench in rounds of ten seconds until the load stops. A round may end early: pgbench gives
    /// a client up at its first error (a KILL, a killed server connection), but that error must be
    /// one the client was told (FATAL or ERROR with its message), never a connection just closed.
    /// </summary>
    private async Task RunPgbenchAsync(int port, string database, string mode, Outcomes outcomes, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var run = postgres.RunToolCapturingAsync("pgbench", ["-h", "127.0.0.1", "-p", port.ToString(), "-U", PostgresFixture.ScramUser, "-n", "-S",
                .. mode.Split(' '), "-c", "8", "-j", "2", "-T", "10", database]);
            if (await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(10) + Bound)) != run)
            {
                outcomes.Hangs.Enqueue($"pgbench {mode} on {database} did not end");
                return;
            }

            try
            {
                var (stdout, _) = await run;
                if (System.Text.RegularExpressions.Regex.Match(stdout, @"number of transactions actually processed: (\d+)") is { Success: true } processed)
                {
                    outcomes.Answer(long.Parse(processed.Groups[1].Value));
                }
            }
            catch (InvalidOperationException aborted)
            {
                foreach (var (line, told) in GivenUpClients(aborted.Message))
                {
                    if (told)
                    {
                        outcomes.Failed(-1, $"pgbench {mode}", new PgbenchClientError(line));
                    }
                    else
                    {
                        outcomes.Unexpected.Enqueue($"pgbench {mode} on {database}: {line}\n{aborted.Message}");
                    }
                }
            }
        }
    }

    /// <summary>
    /// The clients pgbench gave up, each with whether it was told why. A client given up at an
    /// error says it on its own line ("client 3 script 0 aborted in command 1 query 0: FATAL: ...").
    /// One whose connection was found closed says nothing ("client 4 aborted in command 1 ...;
    /// perhaps the backend died"): it was told only if libpq printed a FATAL or ERROR of its own
    /// before, which pgbench does not tie to a client: a FATAL that came while the client was idle
    /// (a KILL between its transactions: libpq prints it as a notice, and finds the connection closed
    /// at the next query), or one a synchronous prepare logged. So each such line counts for one
    /// untold client, whichever; a client given up with no FATAL or ERROR left to account for it was
    /// closed without being told.
    /// </summary>
    internal static List<(string Line, bool Told)> GivenUpClients(string stderr)
    {
        var lines = stderr.Split('\n');
        var loose = lines.Count(line => !IsAbortLine(line) && (line.Contains("FATAL:", StringComparison.Ordinal) || line.Contains("ERROR:", StringComparison.Ordinal)));
        var clients = new List<(string, bool)>();
        foreach (var line in lines.Where(IsAbortLine))
        {
            var told = line.Contains("FATAL:", StringComparison.Ordinal) || line.Contains("ERROR:", StringComparison.Ordinal) || loose-- > 0;
            clients.Add((line, told));
        }

        return clients;
    }

    private static bool IsAbortLine(string line) =>
        line.Contains("aborted", StringComparison.Ordinal) && !line.Contains("Run was aborted", StringComparison.Ordinal);

    /// <summary>A pgbench client given up after an error it was told (its SQLSTATE is not printed, the message is).</summary>
    private sealed class PgbenchClientError(string line) : Exception(line);

    /// <summary>Every second or two, one thing a production pooler lives through.</summary>
    private async Task DisruptAsync(PoolerHost pooler, Outcomes outcomes, CancellationToken stop)
    {
        var random = new Random(42);
        await using var direct = new NpgsqlConnection(postgres.DirectConnectionString("bench"));
        await direct.OpenAsync(CancellationToken.None);
        await using var console = await ConsoleClient.ConnectAsync(pooler.Port, PostgresFixture.ScramUser);
        var tx3Size = 3;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(1000, 2500)), stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var database = Databases[random.Next(Databases.Length)];
            var (what, disruption) = random.Next(6) switch
            {
                0 => ("pg_terminate_backend", (Func<Task>)(async () =>
                {
                    await using var kill = new NpgsqlCommand($"""
                        select pg_terminate_backend(pid) from pg_stat_activity
                        where datname = 'bench' and usename = '{PostgresFixture.ScramUser}' order by random() limit 1
                        """, direct);
                    await kill.ExecuteNonQueryAsync();
                })),
                1 => ($"PAUSE/RESUME {database}", async () =>
                {
                    await console.ShowAsync($"PAUSE {database}");
                    await Task.Delay(300);
                    await console.ShowAsync($"RESUME {database}");
                }),
                2 => ($"RECONNECT {database}", () => console.ShowAsync($"RECONNECT {database}")),
                3 => ($"KILL/RESUME {database}", async () =>
                {
                    await console.ShowAsync($"KILL {database}");
                    await console.ShowAsync($"RESUME {database}");
                }),
                4 => ("RELOAD", () =>
                {
                    tx3Size = tx3Size == 3 ? 2 : 3;
                    pooler.Apply(ConfigView.TakeChangeable(pooler.Settings, postgres.Settings(PgBouncer, databases: Pools(tx3Size), fallback: false)));
                    return Task.CompletedTask;
                }),
                _ => ("nothing", () => Task.CompletedTask),
            };

            var running = disruption();
            if (await Task.WhenAny(running, Task.Delay(Bound)) != running)
            {
                outcomes.Hangs.Enqueue($"{what} did not end");
                return;
            }

            await running;
            outcomes.Disrupted(what);
        }
    }

    /// <summary>One client: a connection of its own through the pooler, and a random request after another until the load stops.</summary>
    private sealed class Worker(int client, int port, Outcomes outcomes)
    {
        private readonly Random _random = new(client);
        private readonly string _database = Databases[client % Databases.Length];
        private NpgsqlConnection? _connection;
        private NpgsqlCommand? _prepared;
        private int _attempted;
        private int _acknowledged;

        /// <summary>What the client is doing now, for the spec's report when something did not end.</summary>
        public string Doing { get; private set; } = "not started";

        private bool Transactions => _database != "st2";

        private string ConnectionString => PostgresFixture.ConnectionString(port, database: _database) +
            $";Timeout={(int)Bound.TotalSeconds};Command Timeout={(int)Bound.TotalSeconds + 15};Cancellation Timeout=0";

        public async Task RunAsync(CancellationToken stop)
        {
            await Task.Delay(_random.Next(0, 3000), CancellationToken.None); // not all two thousand logins in the same millisecond
            while (!stop.IsCancellationRequested)
            {
                var kind = _random.Next(100);
                var (what, request) = kind switch
                {
                    < 40 => ("a parameterized query", (Func<Task>)ParameterizedAsync),
                    < 55 => ("a prepared statement", PreparedAsync),
                    < 72 when Transactions => ("a transaction", TransactionAsync),
                    < 80 => ("a connection for one query", ConnectionPerQueryAsync),
                    < 88 => ("a query that may be canceled", CancelableAsync),
                    < 92 => ("a client that vanishes mid-transaction", VanishAsync),
                    _ => ("a pause", () => Task.Delay(_random.Next(5, 50))),
                };

                var clock = Stopwatch.StartNew();
                Doing = $"client {client} on {_database}: {what} since {DateTime.UtcNow:HH:mm:ss.fff}";
                var running = request();
                if (await Task.WhenAny(running, Task.Delay(Bound)) != running)
                {
                    outcomes.Hangs.Enqueue($"client {client} on {_database}: {what} still had no answer after {clock.Elapsed.TotalSeconds:0}s");
                    _ = running.ContinueWith(static task => task.Exception, TaskScheduler.Default);
                    Doing = $"client {client} on {_database}: dropping its connection after {what} had no answer";
                    await DropAsync();
                    break;
                }

                try
                {
                    await running;
                }
                catch (Exception e)
                {
                    outcomes.Failed(client, what, e);
                    await DropAsync();
                }
            }

            Doing = $"client {client} on {_database}: dropping its connection at the end";
            await DropAsync();
            outcomes.Commits[client] = (_acknowledged, _attempted);
        }

        private async Task<NpgsqlConnection> ConnectionAsync()
        {
            if (_connection is null)
            {
                _connection = new NpgsqlConnection(ConnectionString);
                await _connection.OpenAsync();
            }

            return _connection;
        }

        private async Task DropAsync()
        {
            _prepared = null;
            if (_connection is { } connection)
            {
                _connection = null;
                await connection.DisposeAsync();
            }
        }

        private async Task ParameterizedAsync()
        {
            var value = _random.Next();
            await using var command = new NpgsqlCommand("select $1::int", await ConnectionAsync()) { Parameters = { new() { Value = value } } };
            Expect(value, await command.ExecuteScalarAsync());
        }

        private async Task PreparedAsync()
        {
            if (_prepared is null)
            {
                _prepared = new NpgsqlCommand("select $1::int + 1", await ConnectionAsync()) { Parameters = { new() { Value = 0 } } };
                await _prepared.PrepareAsync();
            }

            var value = _random.Next(1_000_000);
            _prepared.Parameters[0].Value = value;
            Expect(value + 1, await _prepared.ExecuteScalarAsync());
        }

        private async Task TransactionAsync()
        {
            var connection = await ConnectionAsync();
            var n = _attempted++;
            await using var transaction = await connection.BeginTransactionAsync();
            await using (var insert = new NpgsqlCommand($"insert into contention values ({client}, {n})", connection, transaction))
            {
                await insert.ExecuteNonQueryAsync();
            }

            await using (var mine = new NpgsqlCommand($"select count(*) from contention where client = {client} and n = {n}", connection, transaction))
            {
                Expect(1L, await mine.ExecuteScalarAsync()); // its own uncommitted row: the same server connection all through
            }

            await transaction.CommitAsync();
            _acknowledged++;
            outcomes.Answer(1);
        }

        private async Task ConnectionPerQueryAsync()
        {
            await using var connection = new NpgsqlConnection(ConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("select 7", connection);
            Expect(7, await command.ExecuteScalarAsync());
        }

        private async Task CancelableAsync()
        {
            await using var command = new NpgsqlCommand("select pg_sleep(0.2)", await ConnectionAsync());
            var running = command.ExecuteNonQueryAsync();
            if (_random.Next(2) == 0)
            {
                await Task.Delay(_random.Next(0, 150));
                // Running, or still waiting for a server connection, or already done: each is fine. Npgsql's Cancel
                // blocks its thread until the pooler has closed the cancel connection; on the thread pool, which this
                // process shares with the pooler it tests, a hundred such waits starve the pooler that would end them
                // (seen: 34 s with 102 answers, a thousand query_wait_timeouts, threads added one a second). An
                // application's cancel blocks a thread of its own process, not its pooler's: here, one of its own.
                await Task.Factory.StartNew(command.Cancel, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            }

            try
            {
                await running;
                outcomes.Answer(1);
            }
            catch (OperationCanceledException canceled) when (canceled.InnerException is PostgresException { SqlState: "57014" })
            {
                outcomes.Answer(1);
            }
        }

        private async Task VanishAsync()
        {
            var wire = await WireClient.ConnectAsync(port);
            try
            {
                await wire.LoginAsync(PostgresFixture.ScramUser, _database, Bound);
                await wire.SendQueryAsync(Transactions ? "begin; select pg_sleep(0.1)" : "select pg_sleep(0.1)");
                await Task.Delay(_random.Next(0, 100));
            }
            finally
            {
                wire.Socket.Abort(); // gone mid-request: its server connection must be closed, never lent dirty
            }

            outcomes.Answer(1);
        }

        private void Expect(object expected, object? got)
        {
            if (!Equals(expected, got))
            {
                outcomes.Unexpected.Enqueue($"client {client} on {_database}: expected {expected}, got {got}: another client's answer");
            }

            outcomes.Answer(1);
        }
    }

    /// <summary>What the clients saw, counted as they see it.</summary>
    private sealed class Outcomes
    {
        private long _answered;
        private readonly ConcurrentDictionary<string, int> _errors = new();
        private readonly ConcurrentQueue<string> _closes = new(); // what a connection closed under its client looked like (a few)
        private readonly ConcurrentDictionary<string, int> _disruptions = new();

        public ConcurrentQueue<string> Hangs { get; } = new();

        public ConcurrentQueue<string> Unexpected { get; } = new();

        public long Answered => Interlocked.Read(ref _answered);

        /// <summary>Per client: the commits it was told of, and the transactions it began.</summary>
        public ConcurrentDictionary<int, (int Acknowledged, int Attempted)> Commits { get; } = new();

        public void Answer(long count) => Interlocked.Add(ref _answered, count);

        public void Disrupted(string what) => _disruptions.AddOrUpdate(what.Split(' ')[0], 1, (_, n) => n + 1);

        /// <summary>
        /// A request that failed: with a SQLSTATE (the server's or the pooler's: killed, canceled,
        /// timed out waiting, paused...) or because its connection was closed under it. Anything
        /// else (a timeout of the driver's own, a protocol error) is the pooler's fault.
        /// </summary>
        public void Failed(int client, string what, Exception failure)
        {
            var kind = failure switch
            {
                PostgresException postgres => postgres.SqlState,
                PgbenchClientError => "pgbench client given up",
                OperationCanceledException { InnerException: PostgresException postgres } => postgres.SqlState,
                NpgsqlException { InnerException: TimeoutException } => null,
                NpgsqlException { InnerException: IOException or System.Net.Sockets.SocketException or EndOfStreamException } => "connection closed",
                NpgsqlException npgsql when npgsql.Message.Contains("Exception while reading from stream", StringComparison.Ordinal) => "connection closed",
                IOException or System.Net.Sockets.SocketException or EndOfStreamException => "connection closed",
                InvalidOperationException when failure.Message.Contains("closed", StringComparison.OrdinalIgnoreCase) => "connection closed",
                _ => null,
            };
            if (kind is null)
            {
                Unexpected.Enqueue($"client {client}, {what}: {failure.GetType().Name}: {failure.Message} {failure.InnerException?.Message}");
                return;
            }

            _errors.AddOrUpdate(kind, 1, (_, n) => n + 1);
            if (kind == "connection closed" && _closes.Count < 5)
            {
                _closes.Enqueue($"client {client}, {what}: {failure.GetType().Name}: {failure.Message} / {failure.InnerException?.Message}");
            }
        }

        public override string ToString() =>
            $"{Answered} answered; errors {string.Join(", ", _errors.OrderBy(e => e.Key).Select(e => $"{e.Key}: {e.Value}"))}; " +
            $"disruptions {string.Join(", ", _disruptions.OrderBy(d => d.Key).Select(d => $"{d.Key}: {d.Value}"))}" +
            (_closes.IsEmpty ? "" : $"; connections closed under their client, e.g. {string.Join(" | ", _closes)}");
    }
}
