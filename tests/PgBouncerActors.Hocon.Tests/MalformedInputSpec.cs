using System.Text;
using Xunit;

namespace PgBouncerActors.Hocon.Tests;

/// <summary>
/// Whatever an operator writes, the reader answers with a configuration or a located
/// <see cref="HoconException"/>: never another exception, never a hang.
/// </summary>
public sealed class MalformedInputSpec
{
    private static readonly string[] Pieces =
    [
        "a", "b.c", "\"q.k\"", " ", "\n", ",", ":", "=", "+=", "{", "}", "[", "]", "${a}", "${?b.c}", "${", "\"", "\"\"\"",
        "1", "-2.5", "true", "null", "include ", "include \"x.conf\"", "required(", "file(", ")", "//c", "#c", "\\", "$", "+", ".", "..",
    ];

    [Fact]
    public void Random_documents_must_parse_or_fail_with_a_located_HoconException()
    {
        var random = new Random(20261122);
        var folder = Path.GetTempPath();
        var parsed = 0;
        for (var round = 0; round < 20_000; round++)
        {
            var text = new StringBuilder();
            var length = random.Next(1, 30);
            for (var i = 0; i < length; i++)
            {
                text.Append(Pieces[random.Next(Pieces.Length)]);
            }

            var document = text.ToString();
            try
            {
                var config = ConfigFactory.ParseString(document, "fuzz.conf", folder, _ => null).Resolve();
                Assert.NotNull(config.Root.ToString());
                parsed++;
            }
            catch (HoconException error)
            {
                Assert.True(error.Location is { File: "fuzz.conf", Line: >= 1, Column: >= 1 },
                    $"error without a line and column for [{document}]: {error.Message}");
            }
            catch (Exception other)
            {
                Assert.Fail($"{other.GetType().Name} for document [{document}]: {other}");
            }
        }

        // The generator must reach past the first token: a share of the documents are valid.
        Assert.InRange(parsed, 200, 19_800);
    }

    [Fact]
    public void Nesting_deep_enough_to_overflow_the_stack_must_be_refused_with_an_error()
    {
        var deepArray = new string('[', 100_000) + new string(']', 100_000);
        var error = Assert.Throws<HoconException>(() => ConfigFactory.ParseString("a = " + deepArray, "deep.conf"));
        Assert.Contains("nested more than", error.Message);

        var deepObject = string.Concat(Enumerable.Repeat("a {", 100_000));
        Assert.Throws<HoconException>(() => ConfigFactory.ParseString(deepObject, "deep.conf"));
    }

    [Fact]
    public void A_very_long_chain_of_substitutions_must_be_refused_with_an_error()
    {
        var chain = string.Join("\n", Enumerable.Range(0, 100_000).Select(i => $"k{i} = ${{k{i + 1}}}")) + "\nk100000 = end";
        var error = Assert.Throws<HoconException>(() => ConfigFactory.ParseString(chain, "chain.conf").Resolve());
        Assert.Contains("nested more than", error.Message);
    }

    [Fact]
    public void A_reasonable_chain_of_substitutions_must_resolve()
    {
        var chain = string.Join("\n", Enumerable.Range(0, 200).Select(i => $"k{i} = ${{k{i + 1}}}")) + "\nk200 = end";
        Assert.Equal("end", ConfigFactory.ParseString(chain, "chain.conf").GetString("k0"));
    }
}
