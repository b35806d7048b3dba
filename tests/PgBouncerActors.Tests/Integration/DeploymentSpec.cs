using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// The two ways to install the pooler without a clone, built and started as an operator would:
/// the container image (no Docker engine runs here, so its publish is started on a .NET root that
/// holds only the frameworks of the image it names) and the single-file executable the README's
/// command publishes, on a machine without .NET.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed partial class DeploymentSpec(PostgresFixture postgres)
{
    /// <summary>The README's command for the single-file build, output folder added.</summary>
    internal static readonly string[] SingleFilePublish =
        ["publish", "src/PgBouncerActors", "-c", "Release", "-r", "linux-x64", "--self-contained", "-p:PublishSingleFile=true"];

    private static readonly string RepositoryRoot = FindRepositoryRoot();

    private static string FindRepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "PgBouncerActors.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"no PgBouncerActors.sln above {AppContext.BaseDirectory}");
    }

    private string IniConfiguration => $"""
        [databases]
        shop = host=127.0.0.1 port={postgres.Cluster.Port} dbname=postgres
        [pgbouncer]
        listen_addr = 127.0.0.1
        listen_port = {"{port}"}
        auth_type = scram-sha-256
        auth_file = {postgres.UserListPath}
        pool_mode = transaction
        """;

    private async Task<string> PsqlAsync(int port) => (await postgres.RunToolAsync("psql",
        ["-X", "-At", "-h", "127.0.0.1", "-p", port.ToString(), "-U", PostgresFixture.ScramUser, "-c", "select 6 * 7", "shop"])).Trim();

    [Fact]
    public async Task The_container_images_publish_runs_on_its_base_images_frameworks_and_would_not_start_on_the_runtime_image()
    {
        var dockerfile = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot, "src/PgBouncerActors/Dockerfile"));
        var publish = PublishLine().Match(dockerfile);
        Assert.True(publish.Success, "the Dockerfile publishes with `RUN dotnet publish ... -o /app`");
        var image = FromLines().Matches(dockerfile).Last().Groups["image"].Value; // the image the pooler runs on
        var entrypoint = EntrypointLine().Match(dockerfile);
        Assert.True(entrypoint.Success, "the Dockerfile's ENTRYPOINT is an exec list");
        var entry = Regex.Matches(entrypoint.Groups["args"].Value, "\"([^\"]*)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal("dotnet", entry[0]);

        var folder = Directory.CreateTempSubdirectory("pgba-image-").FullName;
        try
        {
            var app = Path.Combine(folder, "app");
            await DotnetAsync([.. publish.Groups["args"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries), "-o", app]);

            // The aspnet image carries both frameworks, the runtime image only the first.
            var imageRoot = DotnetRootWith(Path.Combine(folder, "image-dotnet"), FrameworksOf(image));
            var runtimeRoot = DotnetRootWith(Path.Combine(folder, "runtime-dotnet"), FrameworksOf("mcr.microsoft.com/dotnet/runtime:10.0"));

            // As the ENTRYPOINT runs it (in /app, `dotnet pgbouncer-actors.dll --config FILE`), the configuration being ours.
            var command = entry.Take(entry.Count - 1).Select((part, i) => i == 0 ? Path.Combine(imageRoot, "dotnet") : i == 1 ? Path.Combine(app, part) : part).ToList();
            await using (var pooler = await PoolerProcess.StartAsync(IniConfiguration, DotnetRootOnly(imageRoot), extension: ".ini", command: command))
            {
                Assert.Equal("42", await PsqlAsync(pooler.Port));
            }

            var onRuntimeImage = await RunToEndAsync(Path.Combine(runtimeRoot, "dotnet"), [Path.Combine(app, "pgbouncer-actors.dll"), "-V"], DotnetRootOnly(runtimeRoot));
            Assert.NotEqual(0, onRuntimeImage.ExitCode);
            Assert.Contains("Microsoft.AspNetCore.App", onRuntimeImage.Output); // the reason the image is aspnet, said by the host itself
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task The_single_file_executable_serves_psql_on_a_machine_without_dotnet()
    {
        var folder = Directory.CreateTempSubdirectory("pgba-single-file-").FullName;
        try
        {
            var output = Path.Combine(folder, "out");
            await DotnetAsync([.. SingleFilePublish, "-o", output]);
            var executable = Path.Combine(output, "pgbouncer-actors");
            Assert.False(File.Exists(Path.Combine(output, "pgbouncer-actors.dll")), "one file, not an assembly beside a host");

            // No dotnet on PATH, and a DOTNET_ROOT with nothing in it: all it needs is inside the file.
            var noDotnet = new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin", ["DOTNET_ROOT"] = Path.Combine(folder, "empty") };
            await using var pooler = await PoolerProcess.StartAsync(IniConfiguration, noDotnet, extension: ".ini", command: [executable]);
            Assert.Equal("42", await PsqlAsync(pooler.Port));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The shared frameworks a Microsoft .NET image carries, by its name.</summary>
    private static string[] FrameworksOf(string image) => image switch
    {
        _ when image.Contains("/dotnet/aspnet:") => ["Microsoft.NETCore.App", "Microsoft.AspNetCore.App"],
        _ when image.Contains("/dotnet/runtime:") => ["Microsoft.NETCore.App"],
        _ => throw new InvalidOperationException($"which frameworks does {image} carry?"),
    };

    /// <summary>A .NET root that holds only <paramref name="frameworks"/>: the muxer copied (it finds its root by its own path), the rest linked.</summary>
    private static string DotnetRootWith(string root, IEnumerable<string> frameworks)
    {
        var real = Path.GetDirectoryName(Path.GetFullPath(ResolveLinks(FindDotnet())))!;
        Directory.CreateDirectory(Path.Combine(root, "shared"));
        File.Copy(Path.Combine(real, "dotnet"), Path.Combine(root, "dotnet")); // with its mode: executable
        Directory.CreateSymbolicLink(Path.Combine(root, "host"), Path.Combine(real, "host"));
        foreach (var framework in frameworks)
        {
            Directory.CreateSymbolicLink(Path.Combine(root, "shared", framework), Path.Combine(real, "shared", framework));
        }

        return root;
    }

    private static Dictionary<string, string> DotnetRootOnly(string root) => new()
    {
        ["DOTNET_ROOT"] = root,
        ["DOTNET_MULTILEVEL_LOOKUP"] = "0",
    };

    /// <summary>The dotnet executable itself (its folder is the .NET root to copy from).</summary>
    private static string FindDotnet() => PoolerProcess.Dotnet is var dotnet && Path.IsPathRooted(dotnet) ? dotnet
        : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, "dotnet")).FirstOrDefault(File.Exists)
          ?? throw new InvalidOperationException("no dotnet on PATH");

    private static string ResolveLinks(string path) => new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;

    private static async Task DotnetAsync(IReadOnlyList<string> arguments)
    {
        var result = await RunToEndAsync(FindDotnet(), [.. arguments, "-v", "q", "--nologo"], workingDirectory: RepositoryRoot);
        Assert.True(result.ExitCode == 0, $"dotnet {string.Join(' ', arguments)} failed:\n{result.Output}");
    }

    private static async Task<(int ExitCode, string Output)> RunToEndAsync(string program, IReadOnlyList<string> arguments,
        IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(8));
        return (process.ExitCode, await stdout + await stderr);
    }

    [GeneratedRegex(@"^RUN dotnet (?<args>publish .*) -o /app\s*$", RegexOptions.Multiline)]
    private static partial Regex PublishLine();

    [GeneratedRegex(@"^FROM (?<image>\S+)", RegexOptions.Multiline)]
    private static partial Regex FromLines();

    [GeneratedRegex(@"^ENTRYPOINT \[(?<args>.*)\]\s*$", RegexOptions.Multiline)]
    private static partial Regex EntrypointLine();
}
