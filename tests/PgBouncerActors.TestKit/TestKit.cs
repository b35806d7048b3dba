using PgBouncerActors.Actors;
using Xunit.Abstractions;

namespace PgBouncerActors.TestKit;

/// <summary>
/// Base class for actor specs under xunit: a fresh <see cref="ActorSystem"/> per test (xunit makes a
/// new instance per test), shut down when the test ends, and an implicit probe,
/// <see cref="TestActor"/>, whose expectations are available directly on the class.
/// </summary>
public abstract class TestKit : IDisposable
{
    private static int s_systemCounter;
    private readonly Deadline _deadline;
    private readonly TestProbe _testActor;
    private int _probeCounter;

    protected TestKit(ITestOutputHelper? output = null, ActorSystemSettings? systemSettings = null, TestKitSettings? settings = null)
    {
        TestKitSettings = settings ?? new TestKitSettings();
        _deadline = new Deadline(TestKitSettings);
        var systemName = $"{GetType().Name}-{Interlocked.Increment(ref s_systemCounter)}";
        Sys = ActorSystem.Create(systemName, (systemSettings ?? ActorSystemSettings.Default) with
        {
            Logger = systemSettings?.Logger ?? new TestOutputLogger(output),
        });
        _testActor = CreateTestProbe("testActor");
    }

    public ActorSystem Sys { get; }

    public TestKitSettings TestKitSettings { get; }

    /// <summary>The implicit probe: pass it as a sender or a reply target, then expect on this class.</summary>
    public IActorRef TestActor => _testActor.Ref;

    public IActorRef LastSender => _testActor.LastSender;

    public TimeSpan Remaining => _deadline.Remaining;

    public TestProbe CreateTestProbe(string? name = null) =>
        new(Sys, name ?? $"probe{Interlocked.Increment(ref _probeCounter)}", _deadline);

    public TimeSpan Dilated(TimeSpan duration) => TestKitSettings.Dilated(duration);

    public IActorRef Watch(IActorRef subject) => _testActor.Watch(subject);

    public IActorRef Unwatch(IActorRef subject) => _testActor.Unwatch(subject);

    public T ExpectMsg<T>(TimeSpan? timeout = null) => _testActor.ExpectMsg<T>(timeout);

    public T ExpectMsg<T>(Predicate<T> isExpected, TimeSpan? timeout = null, string? hint = null) =>
        _testActor.ExpectMsg(isExpected, timeout, hint);

    public T ExpectMsg<T>(T expected, TimeSpan? timeout = null) where T : notnull => _testActor.ExpectMsg(expected, timeout);

    public void ExpectNoMsg(TimeSpan duration) => _testActor.ExpectNoMsg(duration);

    public Terminated ExpectTerminated(IActorRef target, TimeSpan? timeout = null) => _testActor.ExpectTerminated(target, timeout);

    public T FishForMessage<T>(Predicate<T> isTheOne, TimeSpan? timeout = null, string? hint = null) =>
        _testActor.FishForMessage(isTheOne, timeout, hint);

    public object? ReceiveOne(TimeSpan? timeout = null) => _testActor.ReceiveOne(timeout);

    /// <summary>Polls <paramref name="condition"/> until it holds, failing after the timeout (or the Within bound).</summary>
    public void AwaitCondition(Func<bool> condition, TimeSpan? timeout = null, TimeSpan? interval = null, string? hint = null)
    {
        var wait = _deadline.Resolve(timeout);
        var pause = interval ?? TimeSpan.FromMilliseconds(10);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > wait)
            {
                throw new TestKitFailure($"Condition not met within {wait.TotalMilliseconds:0} ms{(hint is null ? "" : ": " + hint)}.");
            }

            Thread.Sleep(pause);
        }
    }

    public void Within(TimeSpan min, TimeSpan max, Action block) => _testActor.Within(min, max, block);

    public void Within(TimeSpan max, Action block) => _testActor.Within(max, block);

    public T Within<T>(TimeSpan min, TimeSpan max, Func<T> block) => _testActor.Within(min, max, block);

    /// <summary>Stops the system; a system that does not shut down in time fails the test.</summary>
    public void Dispose()
    {
        GC.SuppressFinalize(this);
        var timeout = Dilated(TestKitSettings.ShutdownTimeout);
        if (!Sys.Terminate().Wait(timeout))
        {
            throw new TestKitFailure($"The actor system {Sys.Name} did not terminate within {timeout.TotalSeconds:0} s.");
        }
    }

    /// <summary>Sends the kernel's log lines to the test's output (shown by xunit when a test fails).</summary>
    private sealed class TestOutputLogger(ITestOutputHelper? output) : IActorLogger
    {
        public bool IsEnabled(ActorLogLevel level) => output is not null && level >= ActorLogLevel.Info;

        public void Log(ActorLogLevel level, string source, string message, Exception? exception)
        {
            try
            {
                output?.WriteLine($"[{level}] {source}: {message}{(exception is null ? "" : " | " + exception.GetType().Name + ": " + exception.Message)}");
            }
            catch (InvalidOperationException)
            {
                // xunit refuses output after the test has finished; late shutdown lines are not worth failing for.
            }
        }
    }
}
