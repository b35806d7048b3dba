using System.Diagnostics;
using PgBouncerActors.TestKit;
using Xunit;

namespace PgBouncerActors.Actors.Tests;

/// <summary>The TestKit's own promises: a test that relies on them must be able to fail.</summary>
public sealed class TestKitSpec : TestKit.TestKit
{
    [Fact]
    public void An_expectation_inside_Within_must_give_up_at_the_blocks_deadline_not_its_own_timeout()
    {
        var clock = Stopwatch.StartNew();
        var failure = Assert.Throws<TestKitFailure>(() =>
            Within(TimeSpan.FromMilliseconds(300), () => ExpectMsg<string>(TimeSpan.FromSeconds(30))));
        Assert.Contains("Timeout", failure.Message);
        Assert.True(clock.Elapsed < Dilated(TimeSpan.FromSeconds(5)), $"waited {clock.Elapsed}");
    }

    [Fact]
    public void Within_must_fail_a_block_that_finishes_before_its_minimum()
    {
        var failure = Assert.Throws<TestKitFailure>(() =>
            Within(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), () => { }));
        Assert.Contains("less than the minimum", failure.Message);
    }

    [Fact]
    public void ExpectNoMsg_must_fail_when_a_message_arrives()
    {
        TestActor.Tell("surprise");
        var failure = Assert.Throws<TestKitFailure>(() => ExpectNoMsg(TimeSpan.FromMilliseconds(200)));
        Assert.Contains("surprise", failure.Message);
    }

    [Fact]
    public void ExpectMsg_must_fail_on_a_message_of_another_type_or_value()
    {
        TestActor.Tell(42);
        Assert.Throws<TestKitFailure>(() => ExpectMsg<string>());
        TestActor.Tell("other");
        Assert.Throws<TestKitFailure>(() => ExpectMsg("expected"));
    }

    [Fact]
    public void FishForMessage_must_skip_until_the_wanted_message()
    {
        foreach (var number in new[] { 1, 2, 3, 10, 4 })
        {
            TestActor.Tell(number);
        }

        Assert.Equal(10, FishForMessage<int>(number => number > 5));
        ExpectMsg(4);
    }

    [Fact]
    public void A_probe_must_reply_to_and_forward_with_the_original_sender()
    {
        var middle = CreateTestProbe("middle");
        var end = CreateTestProbe("end");
        middle.Ref.Tell("question", TestActor);
        middle.ExpectMsg("question");
        middle.Reply("answer");
        ExpectMsg("answer");
        Assert.Same(middle.Ref, LastSender);

        middle.Forward(end.Ref);
        end.ExpectMsg("question");
        Assert.Same(TestActor, end.LastSender);
    }

    [Theory]
    [InlineData(null, 1.0)]
    [InlineData("", 1.0)]
    [InlineData("3", 3.0)]
    [InlineData("2.5", 2.5)]
    public void The_time_factor_must_be_read_from_its_environment_variable_text(string? text, double factor) =>
        Assert.Equal(factor, TestKitSettings.ParseTimeFactor(text));

    [Theory]
    [InlineData("fast")]
    [InlineData("0.5")]
    public void A_time_factor_that_would_shorten_or_is_not_a_number_must_be_refused(string text)
    {
        var error = Assert.Throws<InvalidOperationException>(() => TestKitSettings.ParseTimeFactor(text));
        Assert.Contains(TestKitSettings.TimeFactorVariable, error.Message);
    }

    [Fact]
    public void The_time_factor_must_stretch_default_timeouts_and_Within_bounds()
    {
        var slow = new TestKitSettings { TimeFactor = 3 };
        Assert.Equal(TimeSpan.FromSeconds(9), slow.Dilated(slow.DefaultTimeout));
        Assert.Equal(TimeSpan.FromMilliseconds(300), slow.Dilated(TimeSpan.FromMilliseconds(100)));
    }
}
