using PgBouncerActors.Actors;
using Xunit.Abstractions;

namespace PgBouncerActors.TestKit;

/// <summary>
/// A TestKit whose actor system runs on <see cref="TestScheduler"/>: timers, backoff delays and
/// restart windows move only when the spec calls <c>Clock.Advance</c>.
/// </summary>
public abstract class VirtualTimeTestKit : TestKit
{
    protected VirtualTimeTestKit(ITestOutputHelper? output = null)
        : this(new TestScheduler(), output)
    {
    }

    private VirtualTimeTestKit(TestScheduler clock, ITestOutputHelper? output)
        : base(output, new ActorSystemSettings { SchedulerFactory = () => clock })
    {
        Clock = clock;
    }

    public TestScheduler Clock { get; }
}
