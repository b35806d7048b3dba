using System.Buffers;
using System.Text;

namespace PgBouncerActors.Prepared;

/// <summary>
/// What a statement is, apart from its name. Prepared with the protocol: the query text and the
/// parameter types, kept as the bytes that follow the name in a Parse: two with the same
/// definition are the same statement, so a server connection keeps one copy for every client that
/// prepares it. Prepared with SQL: the whole <c>PREPARE name ...</c> statement, which is sent again
/// as it is to each server connection the client's transactions land on.
/// </summary>
internal sealed class StatementDefinition : IEquatable<StatementDefinition>
{
    private readonly int _hash;

    private StatementDefinition(byte[] body, bool isSql)
    {
        Body = body;
        IsSql = isSql;
        var hash = new HashCode();
        hash.AddBytes(Body);
        hash.Add(isSql);
        _hash = hash.ToHashCode();
    }

    /// <summary>Parse: the query text (NUL-terminated), the parameter count and the parameter type OIDs. SQL: the PREPARE statement, in UTF-8.</summary>
    public byte[] Body { get; }

    /// <summary>Prepared with <c>PREPARE</c>: the server gets it again as SQL, not as a Parse.</summary>
    public bool IsSql { get; }

    /// <summary>
    /// A client's Parse or PREPARE of it: the <see cref="StatementInvalidation.Step"/> then, so a
    /// copy set aside later as out of date is still the one this client's statement runs.
    /// Not part of what the statement is (equality ignores it).
    /// </summary>
    public long DefinedAt { get; set; }

    public static StatementDefinition FromParse(ReadOnlySequence<byte> parseBody) => new(parseBody.ToArray(), isSql: false);

    public static StatementDefinition FromSql(string prepareStatement) => new(Encoding.UTF8.GetBytes(prepareStatement), isSql: true);

    /// <summary>SQL: its PREPARE statement.</summary>
    public string SqlText => Encoding.UTF8.GetString(Body);

    public bool Equals(StatementDefinition? other) =>
        other is not null && (ReferenceEquals(this, other) || (_hash == other._hash && IsSql == other.IsSql && Body.AsSpan().SequenceEqual(other.Body)));

    public override bool Equals(object? obj) => Equals(obj as StatementDefinition);

    public override int GetHashCode() => _hash;
}
