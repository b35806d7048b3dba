using System.Text;

namespace PgBouncerActors.Prepared;

/// <summary>
/// The statements the pooler has prepared on one server connection, under names of its own, at
/// most <c>max_prepared_statements</c> of them: when full, the least recently used one is closed
/// to make room. It lives with the connection, so a connection that is closed or replaced takes
/// its statements with it. The client loop that holds the connection adds and uses statements;
/// the server loop forgets one whose Parse the server refused or skipped, hence the lock.
/// </summary>
internal sealed class ServerStatements(int capacity)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<StatementDefinition, LinkedListNode<ServerStatement>> _byDefinition = [];
    private readonly LinkedList<ServerStatement> _recency = []; // most recently used first
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

    /// <summary>The statement this connection has (or is preparing) for <paramref name="definition"/>, marked as just used; null when it lacks one.</summary>
    public ServerStatement? Use(StatementDefinition definition)
    {
        lock (_lock)
        {
            if (!_byDefinition.TryGetValue(definition, out var node))
            {
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
    /// When the connection is full, <paramref name="evicted"/> is the least recently used statement,
    /// forgotten here, which the caller closes on the server first.
    /// </summary>
    public ServerStatement Add(StatementDefinition definition, out ServerStatement? evicted)
    {
        lock (_lock)
        {
            evicted = null;
            if (_byDefinition.Count >= capacity && _recency.Last is { } oldest)
            {
                evicted = oldest.Value;
                _recency.RemoveLast();
                _byDefinition.Remove(evicted.Definition);
            }

            var statement = new ServerStatement(this, $"PGBA_{++_lastId}", definition);
            _byDefinition[definition] = _recency.AddFirst(statement);
            return statement;
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

    /// <summary>Its Parse went out but the server refused or skipped it.</summary>
    public void NotPrepared() => owner.Forget(this);
}

/// <summary>Told by the protocol tracker when a Parse the pooler sent was refused or skipped by the server.</summary>
internal interface IPrepareOutcome
{
    void NotPrepared();
}
