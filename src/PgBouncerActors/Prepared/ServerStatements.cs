using System.Text;

namespace PgBouncerActors.Prepared;

/// <summary>
/// The statements the pooler has prepared on one server connection, under names of its own, at
/// most <c>max_prepared_statements</c> of them: when full, the least recently used one is closed
/// to make room, and one the server no longer runs (<see cref="StatementInvalidation"/>) is closed
/// when next wanted and prepared again under a new name. It lives with the connection, so a
/// connection that is closed or replaced takes its statements with it. The client loop that holds
/// the connection adds and uses statements; the server loop forgets one whose Parse the server
/// refused or skipped, hence the lock.
/// </summary>
internal sealed class ServerStatements(int capacity, StatementInvalidation invalidation)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<StatementDefinition, LinkedListNode<ServerStatement>> _byDefinition = [];
    private readonly LinkedList<ServerStatement> _recency = []; // most recently used first
    private readonly Queue<ServerStatement> _retired = []; // evicted or replaced, still on the server: the caller closes them next

    // Copies a fresh Parse found out of date and replaced, kept for the clients that prepared their statement before:
    // PostgreSQL answers those as it would their own (0A000 when the result changed), where the new copy would hand them
    // rows of a shape they never described.
    private readonly Dictionary<StatementDefinition, ServerStatement> _superseded = [];
    private long _lastId;

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
            if (_byDefinition.Count >= capacity && _recency.Last is { } oldest)
            {
                _recency.RemoveLast();
                _byDefinition.Remove(oldest.Value.Definition);
                _retired.Enqueue(oldest.Value);
                if (_superseded.Remove(oldest.Value.Definition, out var older))
                {
                    _retired.Enqueue(older);
                }
            }

            var statement = new ServerStatement(this, $"PGBA_{++_lastId}", definition) { GoodAt = invalidation.Step };
            _byDefinition[definition] = _recency.AddFirst(statement);
            return statement;
        }
    }

    /// <summary>A name of the pooler's for a statement it makes only to drop it again (never kept here).</summary>
    public string NextStandInName()
    {
        lock (_lock)
        {
            return $"PGBA_{++_lastId}";
        }
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

    /// <summary>The name in SQL: quoted, or PostgreSQL would fold it to lower case.</summary>
    public string SqlName { get; } = $"\"{name}\"";

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
