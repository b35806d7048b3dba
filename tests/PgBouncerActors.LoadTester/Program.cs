// pgba-load: the load tester. See Cli for the commands; README "Measuring" for how the benchmark uses it.
return await PgBouncerActors.LoadTester.Cli.RunAsync(args, Console.Out);
