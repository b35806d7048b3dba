namespace PgBouncerActors.Prepared;

/// <summary>
/// A client's named prepared statements, as it named them: they outlive every server connection
/// the client's transactions run on. The client loop defines and closes them; the server loop
/// takes back one whose own Parse the server refused, as PostgreSQL would never have defined it.
/// </summary>
internal sealed class ClientStatements
{
    private readonly Lock _lock = new();
    private Dictionary<string, StatementDefinition>? _byName; // made on first use: most clients of a pool never prepare

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _byName?.Count ?? 0;
            }
        }
    }

    public bool TryGet(string name, out StatementDefinition definition)
    {
        lock (_lock)
        {
            definition = null!;
            return _byName?.TryGetValue(name, out definition!) == true;
        }
    }

    /// <returns>False when the name is taken (PostgreSQL refuses it: 42P05).</returns>
    public bool TryDefine(string name, StatementDefinition definition)
    {
        lock (_lock)
        {
            return (_byName ??= new Dictionary<string, StatementDefinition>(StringComparer.Ordinal)).TryAdd(name, definition);
        }
    }

    public bool Remove(string name)
    {
        lock (_lock)
        {
            return _byName?.Remove(name) == true;
        }
    }

    /// <summary>Takes the name back if it still means <paramref name="definition"/> (its Parse failed).</summary>
    public void Undefine(string name, StatementDefinition definition)
    {
        lock (_lock)
        {
            if (_byName?.TryGetValue(name, out var current) == true && ReferenceEquals(current, definition))
            {
                _byName.Remove(name);
            }
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _byName?.Clear();
        }
    }
}
