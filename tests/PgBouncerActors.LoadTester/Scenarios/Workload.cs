using Npgsql;
using PgBouncerActors.LoadTester.Measurement;

namespace PgBouncerActors.LoadTester.Scenarios;

/// <summary>
/// What one operation runs and how its answer is checked. The default asks for a random number
/// and expects it back, so an answer meant for another client (or none) is an error; a fixed
/// query or a script is checked against --expect when given.
/// </summary>
internal sealed class Workload
{
    private readonly IReadOnlyList<string> _statements;
    private readonly string? _expected;

    private Workload(IReadOnlyList<string> statements, string? expected)
    {
        _statements = statements;
        _expected = expected;
    }

    /// <summary>SELECT of a random value, checked.</summary>
    public static Workload Echo { get; } = new([], null);

    public static Workload Query(string sql, string? expected) => new([sql], expected);

    /// <summary>A file of statements, each ended by a semicolon at the end of a line, run in order as one operation.</summary>
    public static Workload Script(string path, string? expected)
    {
        var statements = File.ReadAllText(path)
            .Split(";\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(statement => statement.TrimEnd(';'))
            .Where(statement => statement.Length > 0)
            .ToList();
        return statements.Count > 0 ? new Workload(statements, expected) : throw new ArgumentException($"the script {path} holds no statement");
    }

    public string Describe() => _statements.Count switch
    {
        0 => "SELECT $1 (random, checked)",
        1 => _statements[0] + (_expected is null ? "" : $" (expects {_expected})"),
        var count => $"script of {count} statements" + (_expected is null ? "" : $" (last expects {_expected})"),
    };

    public async Task RunAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        if (_statements.Count == 0)
        {
            var value = Random.Shared.Next();
            await using var echo = new NpgsqlCommand("SELECT $1", connection) { Parameters = { new() { Value = value } } };
            var answer = await echo.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            if (answer is not int returned || returned != value)
            {
                throw new WrongResultException($"asked for {value}, got {answer ?? "nothing"}");
            }

            return;
        }

        object? last = null;
        foreach (var statement in _statements)
        {
            await using var command = new NpgsqlCommand(statement, connection);
            last = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        }

        if (_expected is not null && !string.Equals(Convert.ToString(last, System.Globalization.CultureInfo.InvariantCulture), _expected, StringComparison.Ordinal))
        {
            throw new WrongResultException($"expected {_expected}, got {last ?? "nothing"}");
        }
    }
}
