namespace PgBouncerActors.Prepared;

/// <summary>
/// A client's simple query that the pooler sent as several statements in one query string (a
/// PREPARE of its own before the client's EXECUTE, say): the first <c>hidden</c> CommandCompletes
/// are the pooler's, and the client sees the rest as the answer to what it sent. PostgreSQL stops
/// a query string at its first error, so an error there is the client's either way.
/// </summary>
/// <param name="outcome">Told when the server did not prepare the pooler's statement.</param>
/// <param name="preparedByHidden">The statement is prepared by a hidden part: an error after those parts leaves it prepared.</param>
internal sealed class QueryRewrite(int hidden, IPrepareOutcome? outcome, bool preparedByHidden) : IPrepareOutcome
{
    private int _hiddenLeft = hidden;

    /// <summary>A CommandComplete: true when it is one of the pooler's.</summary>
    public bool HidesCompletion()
    {
        if (_hiddenLeft == 0)
        {
            return false;
        }

        _hiddenLeft--;
        return true;
    }

    /// <summary>Skipped whole (it came after a failed extended-protocol message): nothing in it ran.</summary>
    public void NotPrepared() => outcome?.NotPrepared();

    public void Failed()
    {
        if (!preparedByHidden || _hiddenLeft > 0)
        {
            outcome?.NotPrepared();
        }
    }
}
