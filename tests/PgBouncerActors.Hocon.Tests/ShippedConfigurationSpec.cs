using Xunit;

namespace PgBouncerActors.Hocon.Tests;

/// <summary>The files under <c>hocon/</c> ship to operators: each must parse and resolve.</summary>
public sealed class ShippedConfigurationSpec
{
    public static TheoryData<string> ShippedFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(RepositoryHoconFolder(), "*.conf").Order())
        {
            data.Add(Path.GetFileName(file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ShippedFiles))]
    public void A_shipped_file_must_parse_and_resolve_over_the_reference(string file)
    {
        var reference = ConfigFactory.ParseFile(Path.Combine(RepositoryHoconFolder(), "reference.conf"));
        var config = ConfigFactory.ParseFile(Path.Combine(RepositoryHoconFolder(), file)).WithFallback(reference).Resolve();
        Assert.True(config.GetInt("akka.actor.default-dispatcher.throughput") > 0);
    }

    private static string RepositoryHoconFolder()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "PgBouncerActors.sln")))
            {
                return Path.Combine(folder.FullName, "hocon");
            }
        }

        throw new DirectoryNotFoundException("PgBouncerActors.sln not found above " + AppContext.BaseDirectory);
    }
}
