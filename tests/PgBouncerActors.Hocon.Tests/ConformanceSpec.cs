using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace PgBouncerActors.Hocon.Tests;

/// <summary>
/// In the spirit of the HOCON spec's equivalence examples: every <c>.conf</c> in a folder under
/// <c>Conformance/</c> is another spelling of the same document and must read as that folder's
/// <c>expected.json</c>.
/// </summary>
public sealed class ConformanceSpec
{
    private static readonly string Root = Path.Combine(AppContext.BaseDirectory, "Conformance");

    public static TheoryData<string, string> Spellings()
    {
        var data = new TheoryData<string, string>();
        foreach (var group in Directory.GetDirectories(Root).Order())
        {
            foreach (var file in Directory.GetFiles(group, "*.conf").Order())
            {
                data.Add(Path.GetFileName(group), Path.GetFileName(file));
            }
        }

        return data;
    }

    [Fact]
    public void Every_group_must_have_an_expectation_and_at_least_three_spellings()
    {
        var groups = Directory.GetDirectories(Root);
        Assert.True(groups.Length >= 6, "conformance groups are missing from the test output");
        foreach (var group in groups)
        {
            Assert.True(File.Exists(Path.Combine(group, "expected.json")), $"{group} has no expected.json");
            Assert.True(Directory.GetFiles(group, "*.conf").Length >= 3, $"{group} needs several spellings");
        }
    }

    [Theory]
    [MemberData(nameof(Spellings))]
    public void A_spelling_must_read_the_same_as_the_expected_document(string group, string file)
    {
        var environment = new Dictionary<string, string> { ["PGBA_TEST_HOME"] = "/home/test", ["PGBA_TEST_WORD"] = "big" };
        var config = ConfigFactory.ParseFile(Path.Combine(Root, group, file), name => environment.GetValueOrDefault(name));
        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(Root, group, "expected.json")));

        Assert.Equal(Canonical(expected), Canonical(ToJson(config.Root)));
    }

    private static JsonNode? ToJson(HoconValue value) => value switch
    {
        HoconObject node => new JsonObject(node.Select(field => KeyValuePair.Create(field.Key, ToJson(field.Value)))),
        HoconArray array => new JsonArray(array.Select(ToJson).ToArray()),
        HoconScalar { Kind: HoconScalarKind.Null } => null,
        HoconScalar { Kind: HoconScalarKind.Boolean } scalar => JsonValue.Create(scalar.Text == "true"),
        HoconScalar { Kind: HoconScalarKind.Number } scalar => JsonValue.Create(decimal.Parse(scalar.Text!, NumberStyles.Float, CultureInfo.InvariantCulture)),
        HoconScalar scalar => JsonValue.Create(scalar.Text),
        _ => throw new InvalidOperationException(value.GetType().Name),
    };

    /// <summary>Key order and number spelling do not matter; types and values do.</summary>
    private static string Canonical(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject node1 => "{" + string.Join(",", node1.OrderBy(field => field.Key, StringComparer.Ordinal)
            .Select(field => JsonSerializer.Serialize(field.Key) + ":" + Canonical(field.Value))) + "}",
        JsonArray array => "[" + string.Join(",", array.Select(Canonical)) + "]",
        JsonValue value when value.GetValueKind() == JsonValueKind.Number =>
            value.GetValue<decimal>().ToString(CultureInfo.InvariantCulture),
        _ => node.ToJsonString(),
    };
}
