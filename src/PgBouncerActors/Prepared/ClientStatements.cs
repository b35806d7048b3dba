namespace PgBouncerActors.Prepared;

/// <summary>
/// A client's named prepared statements, as it named them: they outlive every server connection
/// the client's transactions run on. Those made with the protocol (Parse) run on the server under
/// names of the pooler's; those made with SQL (<c>PREPARE</c>) under the client's own, and
/// <see cref="SqlVersion"/> tells a server connection whether it still holds exactly those
/// (see <see cref="ServerStatements.SqlInLineWith"/>). The client loop defines and closes them;
/// the server loop takes back one whose own Parse the server refused, as PostgreSQL would never
/// have defined it, and records what the client's PREPARE and DEALLOCATE did, hence the lock.
/// </summary>
internal sealed class ClientStatements
{
    /// <summary>The monitor of this object, which no other code locks: a Lock of its own would cost every client 40 bytes.</summary>
    private object Gate => this;
    private Dictionary<string, StatementDefinition>? _byName; // made on first use: most clients of a pool never prepare
    private int _sqlCount;
    private long _sqlVersion;

    public int Count
    {
        get
        {
            lock (Gate)
            {
                return _byName?.Count ?? 0;
            }
        }
    }

    /// <summary>How many statements the client made with SQL (read without the lock: the hot path asks it every transaction).</summary>
    public int SqlCount => Volatile.Read(ref _sqlCount);

    /// <summary>Changes whenever the statements made with SQL do.</summary>
    public long SqlVersion => Volatile.Read(ref _sqlVersion);

    public bool TryGet(string name, out StatementDefinition definition)
    {
        lock (Gate)
        {
            definition = null!;
            return _byName?.TryGetValue(name, out definition!) == true;
        }
    }

    /// <returns>False when the name is taken (PostgreSQL refuses it: 42P05).</returns>
    public bool TryDefine(string name, StatementDefinition definition)
    {
        lock (Gate)
        {
            if (!(_byName ??= new Dictionary<string, StatementDefinition>(StringComparer.Ordinal)).TryAdd(name, definition))
            {
                return false;
            }

            Counted(definition, +1);
            return true;
        }
    }

    /// <summary>The server prepared the client's <c>PREPARE name</c> (it answered PREPARE): the name is the client's from now on.</summary>
    public void DefinedWithSql(string name, StatementDefinition definition)
    {
        lock (Gate)
        {
            _byName ??= new Dictionary<string, StatementDefinition>(StringComparer.Ordinal);
            if (_byName.Remove(name, out var replaced))
            {
                Counted(replaced, -1); // only a PREPARE the pooler could not check first (inside a longer string) gets here
            }

            _byName[name] = definition;
            Counted(definition, +1);
        }
    }

    public bool Remove(string name)
    {
        lock (Gate)
        {
            if (_byName?.Remove(name, out var removed) != true)
            {
                return false;
            }

            Counted(removed!, -1);
            return true;
        }
    }

    /// <summary>Takes the name back if it still means <paramref name="definition"/> (its Parse failed).</summary>
    public void Undefine(string name, StatementDefinition definition)
    {
        lock (Gate)
        {
            if (_byName?.TryGetValue(name, out var current) == true && ReferenceEquals(current, definition))
            {
                _byName.Remove(name);
                Counted(definition, -1);
            }
        }
    }

    public void Clear()
    {
        lock (Gate)
        {
            _byName?.Clear();
            if (_sqlCount > 0)
            {
                Volatile.Write(ref _sqlCount, 0);
                Volatile.Write(ref _sqlVersion, _sqlVersion + 1);
            }
        }
    }

    /// <summary>The statements made with SQL, by name, as they are now.</summary>
    public Dictionary<string, StatementDefinition> SqlStatements()
    {
        lock (Gate)
        {
            var statements = new Dictionary<string, StatementDefinition>(StringComparer.Ordinal);
            if (_sqlCount > 0)
            {
                foreach (var (name, definition) in _byName!)
                {
                    if (definition.IsSql)
                    {
                        statements[name] = definition;
                    }
                }
            }

            return statements;
        }
    }

    private void Counted(StatementDefinition definition, int change)
    {
        if (definition.IsSql)
        {
            Volatile.Write(ref _sqlCount, _sqlCount + change);
            Volatile.Write(ref _sqlVersion, _sqlVersion + 1);
        }
    }
}
