using SharpFuzz;

namespace PgBouncerActors.Fuzz;

/// <summary>
/// <c>dotnet PgBouncerActors.Fuzz.dll TARGET</c>: the AFL++ harness of one parser (fuzz.sh runs it).
/// <c>--seeds DIR</c> writes the seed corpus; <c>--replay TARGET FILE</c> runs one input outside
/// AFL, to see a crash's exception and stack.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        switch (args)
        {
            case ["--seeds", var folder]:
                foreach (var (target, name, bytes) in FuzzTargets.Seeds())
                {
                    Directory.CreateDirectory(Path.Combine(folder, target));
                    File.WriteAllBytes(Path.Combine(folder, target, name), bytes);
                }

                return 0;
            case ["--replay", var target, var file] when FuzzTargets.All.TryGetValue(target, out var run):
                run(File.ReadAllBytes(file));
                Console.WriteLine("no crash");
                return 0;
            case [var target] when FuzzTargets.All.TryGetValue(target, out var run):
                Fuzzer.OutOfProcess.Run(stream =>
                {
                    using var copy = new MemoryStream();
                    stream.CopyTo(copy);
                    run(copy.ToArray());
                });
                return 0;
            default:
                Console.Error.WriteLine($"usage: PgBouncerActors.Fuzz TARGET | --seeds DIR | --replay TARGET FILE; targets: {string.Join(", ", FuzzTargets.All.Keys)}");
                return 2;
        }
    }
}
