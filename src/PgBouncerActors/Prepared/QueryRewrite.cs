namespace PgBouncerActors.Prepared;

/// <summary>
/// A client's simple query that the pooler sent as several statements in one query string (a
/// statement of its own before the one whose answer the client gets): the first <c>hidden</c>
/// CommandCompletes are the pooler's, and the client sees the rest as the answer to what it sent.
/// </summary>
internal sealed class QueryRewrite(int hidden)
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
}
