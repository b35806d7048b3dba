namespace PgBouncerActors.TestKit;

/// <summary>
/// The innermost <c>Within</c> bound of one TestKit, shared by all of its probes, so that every
/// expectation inside a Within block waits at most until the block's end.
/// </summary>
internal sealed class Deadline(TestKitSettings settings)
{
    private readonly Stack<DateTime> _ends = new();

    public TestKitSettings Settings { get; } = settings;

    public bool IsInsideWithin
    {
        get
        {
            lock (_ends)
            {
                return _ends.Count > 0;
            }
        }
    }

    /// <summary>Time left in the current Within block, or the dilated default outside one.</summary>
    public TimeSpan Remaining
    {
        get
        {
            lock (_ends)
            {
                if (_ends.Count == 0)
                {
                    return Settings.Dilated(Settings.DefaultTimeout);
                }

                var left = _ends.Peek() - DateTime.UtcNow;
                return left < TimeSpan.Zero ? TimeSpan.Zero : left;
            }
        }
    }

    /// <summary>An explicit timeout, capped by the enclosing Within block.</summary>
    public TimeSpan Resolve(TimeSpan? explicitTimeout)
    {
        if (explicitTimeout is null)
        {
            return Remaining;
        }

        var dilated = Settings.Dilated(explicitTimeout.Value);
        return IsInsideWithin && Remaining < dilated ? Remaining : dilated;
    }

    public void Push(DateTime end)
    {
        lock (_ends)
        {
            // A nested block never extends the outer one.
            _ends.Push(_ends.Count > 0 && _ends.Peek() < end ? _ends.Peek() : end);
        }
    }

    public void Pop()
    {
        lock (_ends)
        {
            _ends.Pop();
        }
    }
}
