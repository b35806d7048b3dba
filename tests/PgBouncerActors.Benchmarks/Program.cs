using BenchmarkDotNet.Running;

// What the pooler does per message, one benchmark class per concern:
//   dotnet run -c Release --project tests/PgBouncerActors.Benchmarks -- --filter '*'
// The side-by-side comparison with PgBouncer is side-by-side.sh in this folder.
BenchmarkSwitcher.FromAssembly(typeof(PgBouncerActors.Benchmarks.FrameScanBenchmarks).Assembly).Run(args);
