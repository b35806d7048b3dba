using System.Text;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Prepared;

/// <summary>
/// The statements the pooler has prepared on one server connection, under names of its own, at
/// most <c>max_prepared_statements</c> of them: when full, the least recently used one is closed
/// to make room, and one the server no longer runs (<see cref="StatementInvalidation"/>) is closed
/// when next wanted and prepared again under a new name. It lives with the connection, so a
/// connection that is closed or replaced takes its statements with it. The client loop that holds
/// the connection adds and uses statements; the server loop forgets one whose Parse the server
/// refused or skipped, hence the lock.
/// <para>
/// Beside them, the statements the client that holds the connection made with SQL, under its own
/// names (see <see cref="SqlStatementSync"/>): the connection holds exactly those of whichever client
/// it is lent to, so that anything the client writes with its names (EXECUTE inside EXPLAIN,
/// <c>CREATE TABLE AS EXECUTE</c>, a Parse of <c>EXECUTE p</c>) meets them as on a direct connection.
/// </para>
/// </summary>
internal sealed class ServerStatements(Func<int> capacity, StatementInvalidation invalidation)
{
    /// <summary>A connection whose capacity never changes (specs).</summary>
    public ServerStatements(int capacity, StatementInvalidation invalidation) : this(() => capacity, invalidation)
    {
    }

    private readonly Lock _lock = new();
    private readonly Dictionary<StatementDefinition, LinkedListNode<ServerStatement>> _byDefinition = [];
    private readonly LinkedList<ServerStatement> _recency = []; // most recently used first
    private readonly Queue<ServerStatement> _retired = []; // evicted or replaced, still on the server: the caller closes them next

    // Copies a fresh Parse found out of date and replaced, kept for the clients that prepared their statement before:
    // PostgreSQL answers those as it would their own (0A000 when the result changed), where the new copy would hand them
    // rows of a shape they never described.
    private readonly Dictionary<StatementDefinition, ServerStatement> _superseded = [];
    private long _lastId;

    private readonly Dictionary<string, StatementDefinition> _sql = new(StringComparer.Ordinal); // made with SQL by the client it is lent to
    private readonly Dictionary<string, PgError> _sqlNotPrepared = new(StringComparer.Ordinal); // the client's, which the server refused to prepare again
    private ClientStatements? _sqlInLineWith;
    private long _sqlInLineVersion;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _byDefinition.Count;
            }
        }
    }

    /// <summary>
    /// The statement this connection has (or is preparing) for <paramref name="definition"/>, marked
    /// as just used; null when it lacks one. For a client's fresh Parse or PREPARE
    /// (<paramref name="forNewStatement"/>), also null when the one it has may be out of date (it
    /// is set aside): on a direct connection that client would get a statement prepared now. A Bind
    /// or EXECUTE of a statement the client prepared before such a copy was set aside runs that copy
    /// (<see cref="StatementDefinition.DefinedAt"/>), which PostgreSQL refuses, or plans again, just
    /// as it would the client's own.
    /// </summary>
    public ServerStatement? Use(StatementDefinition definition, bool forNewStatement)
    {
        lock (_lock)
        {
            if (!forNewStatement && _superseded.TryGetValue(definition, out var older) && definition.DefinedAt < older.SupersededAt)
            {
                return older;
            }

            if (!_byDefinition.TryGetValue(definition, out var node))
            {
                return null;
            }

            if (forNewStatement && invalidation.StaleSince(node.Value) is var staleSince and > 0)
            {
                _byDefinition.Remove(definition);
                _recency.Remove(node);
                if (_superseded.Remove(definition, out var oldest))
                {
                    _retired.Enqueue(oldest);
                }

                node.Value.SupersededAt = staleSince; // clients that defined their statement before the change keep it
                _superseded[definition] = node.Value;
                return null;
            }

            if (node != _recency.First)
            {
                _recency.Remove(node);
                _recency.AddFirst(node);
            }

            return node.Value;
        }
    }

    /// <summary>
    /// Names a statement for a definition this connection lacks; the caller sends its Parse next.
    /// When the connection is full, the least recently used statement is forgotten here and
    /// retired, for the caller to close on the server first (<see cref="TakeRetired"/>).
    /// </summary>
    public ServerStatement Add(StatementDefinition definition)
    {
        lock (_lock)
        {
            // The capacity is read now: max_prepared_statements may have been lowered (SET, RELOAD) since the last one.
            while (_byDefinition.Count >= Math.Max(1, capacity()) && _recency.Last is { } oldest)
            {
                _recency.RemoveLast();
                _byDefinition.Remove(oldest.Value.Definition);
                _retired.Enqueue(oldest.Value);
                if (_superseded.Remove(oldest.Value.Definition, out var older))
                {
                    _retired.Enqueue(older);
                }
            }

            var statement = new ServerStatement(this, NextName(), definition) { GoodAt = invalidation.Step };
            _byDefinition[definition] = _recency.AddFirst(statement);
            return statement;
        }
    }

    /// <summary>A name of the pooler's for a statement it makes only to drop it again (never kept here).</summary>
    public string NextStandInName()
    {
        lock (_lock)
        {
            return NextName();
        }
    }

    /// <summary>A name of the pooler's, never one a client gave a statement with SQL here.</summary>
    private string NextName()
    {
        string name;
        do
        {
            name = $"PGBA_{++_lastId}";
        }
        while (_sql.ContainsKey(name));

        return name;
    }

    /// <summary>A statement forgotten here (evicted, or stale) that the server still has: the caller closes it before its next message.</summary>
    public bool TakeRetired(out ServerStatement retired)
    {
        lock (_lock)
        {
            return _retired.TryDequeue(out retired!);
        }
    }

    /// <summary>The server did not prepare it (its Parse failed or was skipped after an error): it must be prepared again before use.</summary>
    public void Forget(ServerStatement statement)
    {
        lock (_lock)
        {
            if (_byDefinition.TryGetValue(statement.Definition, out var node) && node.Value == statement)
            {
                _byDefinition.Remove(statement.Definition);
                _recency.Remove(node);
            }
        }
    }

    /// <summary>The server dropped all its prepared statements (DISCARD ALL, DEALLOCATE ALL).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _byDefinition.Clear();
            _recency.Clear();
            _retired.Clear();
            _superseded.Clear();
            _sql.Clear();
            _sqlNotPrepared.Clear();
        }
    }

    // --- statements made with SQL, under the client's names --------------------------------------------

    /// <summary>
    /// Whether the connection holds exactly <paramref name="client"/>'s statements made with SQL:
    /// neither has any (nearly every client), or it was brought in line with them and nothing
    /// changed since but through it. The hot path, once per transaction.
    /// </summary>
    public bool SqlInLineWith(ClientStatements client)
    {
        if (client.SqlCount == 0 && _sql.Count == 0)
        {
            return true; // asked by the connection's owner: nobody changes them meanwhile
        }

        lock (_lock)
        {
            return (client.SqlCount == 0 && _sql.Count == 0) || (_sqlInLineWith == client && _sqlInLineVersion == client.SqlVersion);
        }
    }

    /// <summary>The statements made with SQL the connection holds, by name.</summary>
    public Dictionary<string, StatementDefinition> SqlStatements()
    {
        lock (_lock)
        {
            return new Dictionary<string, StatementDefinition>(_sql, StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// What bringing the connection in line did: <paramref name="deallocated"/> are gone, <paramref name="prepared"/>
    /// are there, and those the server refused to prepare again are not (its errors kept for the client's EXECUTE).
    /// </summary>
    public void SqlBroughtInLine(ClientStatements client, long version, IEnumerable<string> deallocated,
        IEnumerable<(string Name, StatementDefinition Definition, PgError? Refused)> prepared)
    {
        lock (_lock)
        {
            _sqlNotPrepared.Clear();
            foreach (var name in deallocated)
            {
                _sql.Remove(name);
            }

            var complete = true;
            foreach (var (name, definition, refused) in prepared)
            {
                if (refused is null)
                {
                    _sql[name] = definition;
                }
                else
                {
                    _sqlNotPrepared[name] = refused;
                    complete = false;
                }
            }

            // One that could not be prepared is tried again with the client's next transaction.
            (_sqlInLineWith, _sqlInLineVersion) = complete ? (client, version) : (null, 0);
        }
    }

    /// <summary>Why the server refused to prepare the client's statement again here (as its EXECUTE would fail on a direct connection), or null.</summary>
    public PgError? SqlNotPrepared(string name)
    {
        lock (_lock)
        {
            return _sqlNotPrepared.GetValueOrDefault(name);
        }
    }

    /// <summary>The client's PREPARE (or DEALLOCATE: <paramref name="definition"/> null) ran here: the connection and the client changed alike.</summary>
    public void SqlChanged(ClientStatements client, string name, StatementDefinition? definition)
    {
        lock (_lock)
        {
            var inLine = _sqlInLineWith == client && _sqlInLineVersion == client.SqlVersion;
            _sqlNotPrepared.Remove(name);
            if (definition is null)
            {
                _sql.Remove(name);
                client.Remove(name);
                if (_recency.First is not null)
                {
                    ForgetByName(name); // a client that deallocated one of the pooler's own statements by its name
                }
            }
            else
            {
                _sql[name] = definition;
                client.DefinedWithSql(name, definition);
            }

            // In line with the client before, so still; otherwise in line with nobody now (not with the client it was last
            // brought in line with, whose statements these no longer are).
            (_sqlInLineWith, _sqlInLineVersion) = inLine ? (client, client.SqlVersion) : (null, 0);
        }
    }

    private void ForgetByName(string name)
    {
        for (var node = _recency.First; node is not null; node = node.Next)
        {
            if (node.Value.Name == name)
            {
                _recency.Remove(node);
                _byDefinition.Remove(node.Value.Definition);
                return;
            }
        }
    }
}

/// <summary>One statement prepared on a server connection under the pooler's name.</summary>
internal sealed class ServerStatement(ServerStatements owner, string name, StatementDefinition definition) : IPrepareOutcome
{
    public string Name { get; } = name;

    /// <summary>The name as the protocol writes it (UTF-8, without the NUL).</summary>
    public byte[] NameBytes { get; } = Encoding.UTF8.GetBytes(name);

    public StatementDefinition Definition { get; } = definition;

    /// <summary>The <see cref="StatementInvalidation.Step"/> it was last known good at.</summary>
    internal long GoodAt { get; set; }

    /// <summary>Set aside for a fresh copy (see <see cref="ServerStatements.Use"/>): clients whose statement is older keep this one.</summary>
    internal long SupersededAt { get; set; } = long.MaxValue;

    /// <summary>Its Parse went out but the server refused or skipped it.</summary>
    public void NotPrepared() => owner.Forget(this);
}

/// <summary>Told by the protocol tracker when a Parse the pooler sent was refused or skipped by the server.</summary>
internal interface IPrepareOutcome
{
    void NotPrepared();
}
