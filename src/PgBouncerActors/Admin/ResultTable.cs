using System.Globalization;
using PgBouncerActors.Protocol.Messages;

namespace PgBouncerActors.Admin;

/// <summary>
/// A SHOW command's answer as PgBouncer sends it: a RowDescription whose columns have
/// PgBouncer's names, order and types (text, int4 for counts, numeric for statistics), the rows
/// in text format, and CommandComplete "SHOW".
/// </summary>
internal sealed class ResultTable
{
    public const int Text = 25;
    public const int Int4 = 23;
    public const int Int8 = 20;
    public const int Numeric = 1700;

    private readonly (string Name, int TypeOid, short TypeSize)[] _columns;
    private readonly List<string?[]> _rows = [];

    /// <param name="columns">Names, each with its type after a colon unless it is text: "database", "cl_active:int4", "total_xact_count:numeric".</param>
    public ResultTable(params string[] columns) => _columns = columns.Select(Column).ToArray();

    public IReadOnlyList<string> ColumnNames => _columns.Select(column => column.Name).ToList();

    public int RowCount => _rows.Count;

    /// <summary>A row; numbers are written in invariant culture, booleans as PgBouncer's 0/1, null as SQL NULL.</summary>
    public ResultTable Row(params object?[] values)
    {
        if (values.Length != _columns.Length)
        {
            throw new ArgumentException($"a row of {_columns.Length} values expected, got {values.Length}");
        }

        _rows.Add(values.Select(Render).ToArray());
        return this;
    }

    public void WriteTo(MessageBuilder builder)
    {
        builder.RowDescription(_columns);
        foreach (var row in _rows)
        {
            builder.DataRow(row);
        }

        builder.CommandComplete("SHOW");
    }

    private static (string, int, short) Column(string spec) => spec.Split(':') switch
    {
        [var name] => (name, Text, -1),
        [var name, "int4"] => (name, Int4, 4),
        [var name, "int8"] => (name, Int8, 8),
        [var name, "numeric"] => (name, Numeric, -1),
        _ => throw new ArgumentException($"column '{spec}': expected name, name:int4, name:int8 or name:numeric"),
    };

    private static string? Render(object? value) => value switch
    {
        null => null,
        bool flag => flag ? "1" : "0",
        DateTime time => time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture),
        IFormattable number => number.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}
