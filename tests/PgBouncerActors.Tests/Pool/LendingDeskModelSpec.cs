using CsCheck;
using PgBouncerActors.Backend;
using PgBouncerActors.Pool;
using PgBouncerActors.Protocol.Messages;
using PgBouncerActors.Tests.Shared;
using Xunit;

namespace PgBouncerActors.Tests.Pool;

/// <summary>
/// The desk checked against a sequential model for linearizability (CsCheck's SampleParallel):
/// clients check out, check in, withdraw and close connections while the supervisor opens
/// connections, times waiters out, wakes them to tell their clients they are queued
/// (query_wait_notify: a woken wait keeps its place), pauses and resumes, in random interleavings on
/// several threads.
/// Every outcome must be one some sequential order of the same steps gives: who holds which
/// connection, who waits in what order, what is idle in what order, how many are open. Each client's
/// own steps are sequential (its client loop) and so are the supervisor's (an actor), as in the
/// pooler; different clients and the supervisor run at once.
/// </summary>
public sealed class LendingDeskModelSpec : IDisposable
{
    private const int ClientCount = 4;
    private readonly DeskConnections _connections = new();

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void Every_interleaving_of_checkouts_checkins_withdrawals_timeouts_notices_and_pauses_is_one_a_sequential_desk_gives(string seed)
    {
        var client = Gen.Int[0, ClientCount - 1];
        Gen.Int[0, 3].Select(idle => (new Actual(idle, _connections), new Model(idle)))
            .SampleParallel(
            [
                client.Operation<Actual, Model>(i => $"Checkout({i})", (actual, i) => actual.Checkout(i), (model, i) => model.Checkout(i)),
                client.Operation<Actual, Model>(i => $"CheckIn({i})", (actual, i) => actual.CheckIn(i), (model, i) => model.CheckIn(i)),
                client.Operation<Actual, Model>(i => $"Withdraw({i})", (actual, i) => actual.Withdraw(i), (model, i) => model.Withdraw(i)),
                client.Operation<Actual, Model>(i => $"Retire({i})", (actual, i) => actual.Retire(i), (model, i) => model.Retire(i)),
                Gen.Operation<Actual, Model>("Open()", actual => actual.Open(), model => model.Open()),
                Gen.Operation<Actual, Model>("TimeOutWaiters()", actual => actual.TimeOutWaiters(), model => model.TimeOutWaiters()),
                Gen.Operation<Actual, Model>("TellQueued()", actual => actual.TellQueued(), _ => { }), // a told wait keeps its place
                Gen.OneOf(Gen.Const(true), Gen.Const(false)).Operation<Actual, Model>(pause => pause ? "Pause()" : "Resume()",
                    (actual, pause) => actual.PauseOrResume(pause), (model, pause) => model.PauseOrResume(pause)),
            ],
                equal: (actual, model) => actual.Describe() == model.Describe(),
                seed: PropertySeeds.For(seed), iter: 2000, threads: Environment.ProcessorCount,
                printActual: actual => actual.Describe(), printModel: model => model.Describe());
    }

    public void Dispose() => _connections.Dispose();

    /// <summary>A real desk and its clients; connections are told apart by their process id, given in the order they open.</summary>
    private sealed class Actual
    {
        private readonly LendingDesk _desk = new(new DeskPolicy(PoolSize: 100), () => TimeSpan.Zero, new RecordingDeskOwner());
        private readonly DeskConnections _connections;
        private readonly Lock _supervisor = new(); // the supervisor is an actor: one step at a time
        private readonly Client[] _clients = [.. Enumerable.Range(0, ClientCount).Select(_ => new Client())];
        private int _nextId;

        public Actual(int idle, DeskConnections connections)
        {
            _connections = connections;
            for (var i = 0; i < idle; i++)
            {
                Open();
            }
        }

        public void Open()
        {
            lock (_supervisor)
            {
                var connection = _connections.Next();
                connection.ProcessId = ++_nextId;
                _desk.OpeningStarted();
                _desk.Opened(connection);
            }
        }

        public void TimeOutWaiters()
        {
            lock (_supervisor)
            {
                _desk.FailWaiters(TimeSpan.Zero, PgError.FatalError(SqlStates.QueryCanceled, "query_wait_timeout"));
            }
        }

        public void TellQueued()
        {
            lock (_supervisor)
            {
                _desk.TellQueued(TimeSpan.Zero);
            }
        }

        public void PauseOrResume(bool pause)
        {
            lock (_supervisor)
            {
                if (pause)
                {
                    _desk.Pause("PAUSE");
                }
                else
                {
                    _desk.Resume();
                }
            }
        }

        public void Checkout(int i) => _clients[i].Step(_desk, client =>
        {
            if (client.Held is null && client.Pending is null)
            {
                var checkout = _desk.CheckoutAsync(client.Waiter, client.Last, tellWhenQueued: true);
                if (checkout.IsCompletedSuccessfully)
                {
                    client.Held = checkout.Result;
                }
                else
                {
                    client.Pending = checkout;
                }
            }
        });

        public void CheckIn(int i) => _clients[i].Step(_desk, client =>
        {
            if (client.Held is { } held)
            {
                client.Held = null;
                client.Last = held;
                _desk.CheckIn(held);
            }
        });

        public void Withdraw(int i) => _clients[i].Step(_desk, client =>
        {
            if (client.Pending is not null)
            {
                _desk.Withdraw(client.Waiter);
                client.Settle(_desk); // withdrawn (its wait failed) or answered just before (it holds a connection)
            }
        });

        public void Retire(int i) => _clients[i].Step(_desk, client =>
        {
            if (client.Held is { } held)
            {
                client.Held = null;
                _desk.Retire(held, "dirty");
            }
        });

        public string Describe()
        {
            foreach (var client in _clients)
            {
                client.Step(_desk, _ => { });
            }

            var (waiting, idle) = _desk.Snapshot();
            var holds = _clients.Select(client => client.Held?.ProcessId.ToString() ?? "-");
            var queue = waiting.Select(waiter => Array.FindIndex(_clients, client => client.Waiter == waiter));
            return State.Describe(holds, queue, idle.Select(connection => connection.ProcessId), _desk.Counts.Live);
        }
    }

    /// <summary>One client: its steps one at a time, and what its wait brought once it is answered.</summary>
    private sealed class Client
    {
        private readonly Lock _loop = new();

        public DeskWaiter Waiter { get; } = new();
        public ValueTask<ServerConnection>? Pending { get; set; }
        public ServerConnection? Held { get; set; }
        public ServerConnection? Last { get; set; }

        public void Step(LendingDesk desk, Action<Client> step)
        {
            lock (_loop)
            {
                Settle(desk);
                step(this);
            }
        }

        /// <summary>
        /// A wait the desk answered: its connection is held from now on (a failed wait leaves nothing).
        /// A wait woken to tell the client (null) goes on, as the client loop's does, and may have been answered meanwhile.
        /// </summary>
        public void Settle(LendingDesk desk)
        {
            while (Pending is { } pending)
            {
                if (Waiter.State == WaiterState.Answered)
                {
                    SpinWait.SpinUntil(() => pending.IsCompleted); // delivered right after the desk's lock, on the answering thread
                }

                if (!pending.IsCompleted)
                {
                    return;
                }

                Pending = null;
                if (!pending.IsCompletedSuccessfully)
                {
                    _ = pending.AsTask().Exception; // observed: withdrawn or timed out
                }
                else if (pending.Result is { } connection)
                {
                    Held = connection;
                }
                else
                {
                    Pending = desk.ContinueWaiting(Waiter); // told it is queued: the same wait goes on
                }
            }
        }
    }

    /// <summary>The desk as a plain sequential program.</summary>
    private sealed class Model
    {
        private readonly List<int> _idle = []; // oldest first
        private readonly List<int> _waiting = []; // client numbers, oldest first
        private readonly int?[] _held = new int?[ClientCount];
        private readonly int?[] _last = new int?[ClientCount];
        private bool _paused;
        private int _live;
        private int _nextId;

        public Model(int idle)
        {
            for (var i = 0; i < idle; i++)
            {
                Open();
            }
        }

        public void Open()
        {
            var connection = ++_nextId;
            _live++;
            Place(connection);
        }

        public void TimeOutWaiters() => _waiting.Clear();

        public void PauseOrResume(bool pause)
        {
            _paused = pause;
            if (pause)
            {
                _live -= _idle.Count;
                _idle.Clear();
            }
        }

        public void Checkout(int i)
        {
            if (_held[i] is not null || _waiting.Contains(i))
            {
                return;
            }

            if (!_paused && _idle.Count > 0)
            {
                var connection = _last[i] is { } last && _idle.Contains(last) ? last : _idle[^1];
                _idle.Remove(connection);
                _held[i] = connection;
            }
            else
            {
                _waiting.Add(i);
            }
        }

        public void CheckIn(int i)
        {
            if (_held[i] is { } connection)
            {
                _held[i] = null;
                _last[i] = connection;
                Place(connection);
            }
        }

        public void Withdraw(int i) => _waiting.Remove(i);

        public void Retire(int i)
        {
            if (_held[i] is not null)
            {
                _held[i] = null;
                _live--;
            }
        }

        private void Place(int connection)
        {
            if (_paused)
            {
                _live--; // closed: a paused pool keeps nothing
            }
            else if (_waiting.Count > 0)
            {
                _held[_waiting[0]] = connection;
                _waiting.RemoveAt(0);
            }
            else
            {
                _idle.Add(connection);
            }
        }

        public string Describe() =>
            State.Describe(_held.Select(held => held?.ToString() ?? "-"), _waiting, _idle, _live);
    }

    private static class State
    {
        public static string Describe(IEnumerable<string> holds, IEnumerable<int> waiting, IEnumerable<int> idle, int live) =>
            $"holds [{string.Join(",", holds)}] waiting [{string.Join(",", waiting)}] idle [{string.Join(",", idle)}] live {live}";
    }
}
