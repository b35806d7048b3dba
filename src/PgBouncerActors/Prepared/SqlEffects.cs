namespace PgBouncerActors.Prepared;

/// <summary>
/// What a client's query string (or unnamed Parse) does to its statements made with SQL, should
/// it run: its PREPARE, DEALLOCATE and DISCARD ALL statements in order. The server's answers say
/// which ran: each of these statements answers with its own CommandComplete tag, and nothing else
/// answers with those tags, so the next tag of the kind belongs to the next statement here
/// (PostgreSQL stops a query string at its first error).
/// </summary>
internal sealed class SqlEffects
{
    private readonly List<SqlPreparedCommand> _commands;
    private int _next;

    private SqlEffects(List<SqlPreparedCommand> commands) => _commands = commands;

    /// <summary>The effects of <paramref name="commands"/>; null when none changes a name (EXECUTE alone).</summary>
    public static SqlEffects? Of(List<SqlPreparedCommand> commands)
    {
        var changing = commands.FindAll(command => command.Verb != SqlPreparedVerb.Execute);
        return changing.Count == 0 ? null : new SqlEffects(changing);
    }

    /// <summary>The statement a CommandComplete of <paramref name="verb"/> answers, or null when none is left of that kind (the tracking is off: nothing is applied).</summary>
    public SqlPreparedCommand? Next(SqlPreparedVerb verb)
    {
        if (_next >= _commands.Count)
        {
            return null;
        }

        var command = _commands[_next++];
        if (command.Verb != verb)
        {
            _next = _commands.Count; // a statement did not answer as itself: stop rather than guess
            return null;
        }

        return command;
    }

    /// <summary>An unnamed Parse holds one statement, and each Execute of it answers for that one.</summary>
    public SqlPreparedCommand? Only(SqlPreparedVerb verb) => _commands is [var only] && only.Verb == verb ? only : null;
}
