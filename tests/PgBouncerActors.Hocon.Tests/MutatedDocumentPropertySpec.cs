using CsCheck;
using PgBouncerActors.Tests.Shared;
using Xunit;

namespace PgBouncerActors.Hocon.Tests;

/// <summary>
/// Real configuration documents (the conformance fixtures) with characters changed, dropped or
/// repeated: the reader answers with a configuration or a located <see cref="HoconException"/>,
/// never another exception. CsCheck shrinks a failure and prints its seed.
/// </summary>
public sealed class MutatedDocumentPropertySpec
{
    private static readonly string[] Documents = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Conformance"), "*.conf",
            SearchOption.AllDirectories)
        .Select(File.ReadAllText)
        .ToArray();

    private static readonly Gen<string> Mutated = Gen.Select(Gen.Int[0, Documents.Length - 1], Gen.Select(Gen.Int[0, 2], Gen.Int, Gen.Char).Array[1, 6],
        (document, edits) =>
        {
            var text = Documents[document];
            foreach (var (kind, where, c) in edits)
            {
                var at = (int)((uint)where % (text.Length + 1));
                text = kind switch
                {
                    0 => text.Insert(at, c.ToString()),
                    1 when at < text.Length => text.Remove(at, 1),
                    _ => text.Insert(at, text[at..Math.Min(text.Length, at + 8)]),
                };
            }

            return text;
        });

    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void A_mutated_real_document_parses_or_fails_with_a_located_HoconException(string seed)
    {
        Assert.NotEmpty(Documents);
        Mutated.Sample(text =>
        {
            try
            {
                ConfigFactory.ParseString(text, "mutated.conf", Path.GetTempPath(), _ => null).Resolve();
            }
            catch (HoconException error)
            {
                Assert.True(error.Location is { File: "mutated.conf", Line: >= 1, Column: >= 1 }, error.Message);
            }
        }, seed: PropertySeeds.For(seed), iter: PropertySeeds.Iterations, threads: 1);
    }

    [Theory]
    [InlineData("include \"x\0.conf\"")] // found by AFL++ (fuzz.sh hocon): it escaped as an ArgumentException
    [InlineData("include \"\"")]
    [InlineData("include required(file(\"a\0b\"))")]
    public void An_include_of_something_that_is_no_file_name_is_a_located_error(string text)
    {
        var error = Assert.Throws<HoconException>(() => ConfigFactory.ParseString(text, "include.conf", Path.GetTempPath(), _ => null));
        Assert.Equal(("include.conf", 1), (error.Location.File, error.Location.Line));
    }
}
