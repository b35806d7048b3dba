using Akka.Configuration;
using Akka.Dispatch;

namespace PgBouncerActors.Hosting;

/// <summary>
/// The executor of the sessions' dispatcher (<see cref="SessionDispatcher"/>: the client sessions,
/// their parent and their conversation graphs). A login is a chain of small steps that hand over to one another: the
/// session actor asks its conversation graph to read, the graph's answer continues the session,
/// which tells itself the outcome, and so on. On .NET's thread pool every step is a new work item,
/// and each one wakes a sleeping worker: about 30 context switches per login on 2 cores, where
/// PgBouncer's one thread makes 6, and half of a login's CPU went to waking and sleeping threads.
/// Here an actor that becomes runnable while another actor of this dispatcher runs on a thread
/// runs next on that same thread, with no wake, as the next goroutine does in Go's scheduler:
/// one such hand-over is kept per thread (a second one, fan-out, goes to the thread pool, where
/// other cores can take it), and a thread hands over at most <see cref="RunsPerTurn"/> times in a
/// row before it gives the rest back to the pool, so no chain keeps a thread to itself.
/// Only this dispatcher's actors are handed over: a message to an actor of another dispatcher
/// (Akka's own, the pools') goes through that dispatcher as before, so code that blocks waiting
/// for an actor of Akka's (some of Akka.Cluster's and Akka.Streams' first uses do) cannot wait on
/// a step parked behind itself. Nothing on this dispatcher blocks on a reply from it.
/// </summary>
public sealed class HandOffExecutorConfigurator(Config config, IDispatcherPrerequisites prerequisites)
    : ExecutorServiceConfigurator(config, prerequisites)
{
    public override ExecutorService Produce(string id) => new HandOffExecutor(id);
}

internal sealed class HandOffExecutor(string id) : ExecutorService(id)
{
    /// <summary>Hand-overs in a row on one thread before the rest goes back to the thread pool (a login takes about ten).</summary>
    internal const int RunsPerTurn = 32;

    [ThreadStatic]
    private static Turn? t_turn;

    /// <summary>What one thread is doing for this dispatcher: whether it runs a turn, and the step handed to it next.</summary>
    private sealed class Turn
    {
        public bool Running;
        public IRunnable? Next;

        public IRunnable? TakeNext()
        {
            var next = Next;
            Next = null;
            return next;
        }
    }

    public override void Execute(IRunnable run)
    {
        if (t_turn is { Running: true, Next: null } turn)
        {
            turn.Next = run;
            return;
        }

        Queue(run);
    }

    public override void Shutdown()
    {
        // The thread pool is the process's: nothing of its own to stop.
    }

    /// <summary>
    /// Runs <paramref name="action"/> (with <paramref name="state"/>) as a turn of this dispatcher on the calling thread (a socket's
    /// completion): a step it makes runnable runs here next instead of waking a pool thread.
    /// Called where a turn already runs, or where an actor is handling a message, it just runs the action.
    /// </summary>
    public static void RunHere<TState>(Action<TState> action, TState state)
    {
        var turn = t_turn ??= new Turn();
        // Inside a turn already, or inside an actor of another dispatcher (a completion it set off runs
        // on its thread): a turn here would run actors within that actor's message, so none starts.
        if (turn.Running || Akka.Actor.Internal.InternalCurrentActorCellKeeper.Current is not null)
        {
            action(state);
            return;
        }

        turn.Running = true;
        try
        {
            action(state);
            Drain(turn, turn.TakeNext(), runs: 0);
        }
        finally
        {
            End(turn);
        }
    }

    private static void Queue(IRunnable run) => ThreadPool.UnsafeQueueUserWorkItem(static run => RunTurn(run), run, preferLocal: false);

    /// <summary>
    /// A step on a free pool thread starts a turn there: a pool item never runs inside another, nor inside an actor's
    /// message. Not through <see cref="RunHere"/>, whose look at Akka's current-actor slot would see what a TestKit
    /// leaves in it on a pool thread and start no turn (a spec's chain then broke up over threads).
    /// </summary>
    private static void RunTurn(IRunnable first)
    {
        var turn = t_turn ??= new Turn();
        System.Diagnostics.Debug.Assert(!turn.Running, "a pool item ran inside a turn");
        turn.Running = true;
        try
        {
            Drain(turn, first, runs: 0);
        }
        finally
        {
            End(turn);
        }
    }

    /// <summary>
    /// Continues <paramref name="task"/> with <paramref name="then"/> as a turn on the thread that completes it (a socket's
    /// completion), so the steps it sets off run there instead of waking a pool thread each.
    /// </summary>
    public static void ContinueAsTurn<TResult, TState>(Task<TResult> task, Action<Task<TResult>, TState> then, TState state) =>
        task.ContinueWith(static (done, continuation) =>
            {
                var (then, state) = ((Action<Task<TResult>, TState>, TState))continuation!;
                RunHere(static step => step.Then(step.Done, step.State), (Then: then, Done: done, State: state));
            }, (then, state), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private static void Drain(Turn turn, IRunnable? run, int runs)
    {
        while (run is not null)
        {
            if (++runs > RunsPerTurn)
            {
                Queue(run);
                return;
            }

            run.Run();
            run = turn.TakeNext();
        }
    }

    /// <summary>A turn that ends by an exception still hands its next step to the pool: nothing is lost.</summary>
    private static void End(Turn turn)
    {
        turn.Running = false;
        if (turn.TakeNext() is { } left)
        {
            Queue(left);
        }
    }
}

/// <summary>The dispatcher of the client sessions and their conversation graphs, on a <see cref="HandOffExecutor"/>.</summary>
internal static class SessionDispatcher
{
    /// <summary>Where the actor system's configuration names this dispatcher.</summary>
    public const string ConfigPath = "pgbouncer-actors-session-dispatcher";

    /// <summary>The configuration the actor system needs for <see cref="ConfigPath"/> (throughput as Akka's default dispatcher here).</summary>
    public static string Hocon => $$"""
        {{ConfigPath}} {
          type = Dispatcher
          executor = "{{typeof(HandOffExecutorConfigurator).AssemblyQualifiedName}}"
          throughput = 30
        }
        """;
}
