namespace PgBouncerActors.Metrics;

/// <summary>The dashboard's static files, embedded in the binary (Metrics/Dashboard): nothing is fetched at run time.</summary>
internal static class DashboardFiles
{
    private static readonly Dictionary<string, DashboardFile> Files = Load();

    public static DashboardFile? Find(string path) => Files.GetValueOrDefault(path == "/" ? "/index.html" : path);

    private static Dictionary<string, DashboardFile> Load()
    {
        var assembly = typeof(DashboardFiles).Assembly;
        var files = new Dictionary<string, DashboardFile>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(name => name.StartsWith("dashboard/", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var fileName = name["dashboard/".Length..];
            files["/" + fileName] = new DashboardFile(copy.ToArray(), ContentType(fileName));
        }

        return files;
    }

    private static string ContentType(string fileName) => Path.GetExtension(fileName) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
}

internal sealed record DashboardFile(byte[] Content, string ContentType);
