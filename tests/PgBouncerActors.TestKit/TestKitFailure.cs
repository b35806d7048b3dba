namespace PgBouncerActors.TestKit;

/// <summary>An expectation of the TestKit that did not hold.</summary>
public sealed class TestKitFailure(string message) : Exception(message);
