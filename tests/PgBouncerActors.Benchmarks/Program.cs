using PgBouncerActors.Actors;
using PgBouncerActors.Benchmarks;

// The kernel's three figures: Tell throughput between two actors, Ask round-trip latency and
// memory per idle actor. A console program rather than timed tests: figures, not assertions.
var quick = args.Contains("--quick");
Console.WriteLine($"PgBouncerActors kernel benchmark  ({Environment.ProcessorCount} cores, .NET {Environment.Version}, " +
                  $"{(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC{(quick ? ", quick run" : "")})");
Console.WriteLine();

var tell = await KernelBenchmarks.TellThroughput(messages: quick ? 2_000_000 : 20_000_000, rounds: quick ? 1 : 3);
var ask = await KernelBenchmarks.AskLatency(asks: quick ? 20_000 : 200_000);
var idle = KernelBenchmarks.IdleActorMemory(actors: 100_000, sharedProps: false);
var idleShared = KernelBenchmarks.IdleActorMemory(actors: 100_000, sharedProps: true);

Console.WriteLine($"{"figure",-34} {"measured",16} {"target",14}");
Console.WriteLine($"{"Tell throughput (actor to actor)",-34} {tell,12:N0} /s {"≥ 5,000,000 /s",14}");
Console.WriteLine($"{"Ask round trip, median",-34} {ask.Median.TotalMicroseconds,13:N2} µs {"< 5 µs",14}");
Console.WriteLine($"{"Ask round trip, p99",-34} {ask.P99.TotalMicroseconds,13:N2} µs {"",14}");
Console.WriteLine($"{"Memory per idle actor (own Props)",-34} {idle,14:N0} B {"< 1,024 B",14}");
Console.WriteLine($"{"Memory per idle actor (shared Props)",-34} {idleShared,14:N0} B {"",14}");
Console.WriteLine();
Console.WriteLine($"100,000 idle actors (own Props): {idle * 100_000 / 1_000_000.0:0.0} MB of managed heap.");
