namespace PgBouncerActors.Hosting;

/// <summary>What the command line asks for.</summary>
internal enum CommandKind
{
    Run,
    Demo,
    Help,
    Version,
}

/// <summary>
/// The command line, read as PgBouncer 1.25 reads its own (getopt_long over "qvhdVRu:", options
/// before or after the file, short options grouped as in <c>-qv</c> or <c>-vv</c>), so that a
/// service unit, a script or PgBouncer's test suite starts this pooler exactly as it starts
/// PgBouncer: <c>pgbouncer-actors [-d] [-q] [-v] [-u USER] INI</c>. Beside PgBouncer's:
/// <c>--config FILE</c> (a HOCON file) and <c>demo [--port N]</c>.
/// </summary>
internal sealed record CommandLine(CommandKind Kind, string? ConfigFile = null, bool Daemon = false, bool Quiet = false, int Verbose = 0,
    string? User = null, int DemoPort = 6432)
{
    public const string Usage = """
        pgbouncer-actors is a connection pooler for PostgreSQL, started as PgBouncer is.

        Usage:
          pgbouncer-actors [OPTION]... CONFIG_FILE    CONFIG_FILE: pgbouncer.ini (PgBouncer's format) or HOCON (any other name)
          pgbouncer-actors demo [--port N]            a scratch PostgreSQL with the pooler in front of it (port 6432 by default)

        Options:
          -d, --daemon         run in background (as a daemon; needs pidfile)
          -q, --quiet          run quietly (no log on the console)
          -R, --reboot         online reboot: not supported, use so_reuseport instead
          -u, --user=USERNAME  assume identity of USERNAME (when started as root)
          -v, --verbose        increase verbosity
          -c, --config=FILE    the configuration file, named explicitly
          -V, --version        show version, then exit
          -h, --help           show this help, then exit
        """;

    /// <summary>The command line, or a <see cref="CommandLineException"/> saying what is wrong with it.</summary>
    public static CommandLine Parse(string[] args)
    {
        if (args is ["demo", .. var rest])
        {
            return rest switch
            {
                [] => new CommandLine(CommandKind.Demo),
                ["--port", var port] when int.TryParse(port, out var number) && number is > 0 and < 65536 => new CommandLine(CommandKind.Demo, DemoPort: number),
                _ => throw new CommandLineException("demo takes only --port N"),
            };
        }

        var line = new CommandLine(CommandKind.Run);
        var files = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                files.AddRange(args.Skip(i + 1));
                break;
            }

            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                var (name, inline) = arg.IndexOf('=') is var equals and > 0 ? (arg[2..equals], arg[(equals + 1)..]) : (arg[2..], null);
                string Value() => inline ?? (++i < args.Length ? args[i] : throw new CommandLineException($"option '--{name}' requires an argument"));
                line = name switch
                {
                    "quiet" => line with { Quiet = true },
                    "verbose" => line with { Verbose = line.Verbose + 1 },
                    "daemon" => line with { Daemon = true },
                    "reboot" => throw Reboot(),
                    "user" => line with { User = Value() },
                    "config" => AddFile(line, files, Value()),
                    "help" => line with { Kind = CommandKind.Help },
                    "version" => line with { Kind = CommandKind.Version },
                    _ => throw new CommandLineException($"unrecognized option '{arg}'"),
                };
                if (line.Kind is CommandKind.Help or CommandKind.Version)
                {
                    return line;
                }

                continue;
            }

            if (arg.Length < 2 || arg[0] != '-')
            {
                files.Add(arg);
                continue;
            }

            for (var at = 1; at < arg.Length; at++)
            {
                switch (arg[at])
                {
                    case 'q':
                        line = line with { Quiet = true };
                        break;
                    case 'v':
                        line = line with { Verbose = line.Verbose + 1 };
                        break;
                    case 'd':
                        line = line with { Daemon = true };
                        break;
                    case 'R':
                        throw Reboot();
                    case 'h':
                        return line with { Kind = CommandKind.Help };
                    case 'V':
                        return line with { Kind = CommandKind.Version };
                    case 'u' or 'c':
                        var value = at + 1 < arg.Length ? arg[(at + 1)..] : ++i < args.Length ? args[i]
                            : throw new CommandLineException($"option requires an argument -- '{arg[at]}'");
                        line = arg[at] == 'u' ? line with { User = value } : AddFile(line, files, value);
                        at = arg.Length;
                        break;
                    default:
                        throw new CommandLineException($"invalid option -- '{arg[at]}'");
                }
            }
        }

        return files switch
        {
            [var file] => line with { ConfigFile = file },
            [] => throw new CommandLineException("no configuration file specified"),
            _ => throw new CommandLineException("only one configuration file may be given"),
        };
    }

    private static CommandLine AddFile(CommandLine line, List<string> files, string file)
    {
        files.Add(file);
        return line;
    }

    /// <summary>
    /// PgBouncer's online restart hands its sockets to a new process over the Unix socket; 1.25
    /// calls it deprecated in favour of so_reuseport, which this pooler has (and a cluster of
    /// instances on one port). Refused rather than ignored: a -R that started a second pooler
    /// beside the first would not be the restart the operator asked for.
    /// </summary>
    private static CommandLineException Reboot() =>
        new("online reboot (-R, --reboot) is not supported: run the new instance beside the old one with so_reuseport = 1, then stop the old one");
}

/// <summary>A command line that cannot be run: said in one line, with the usage hint, exit status 1 (as PgBouncer).</summary>
internal sealed class CommandLineException(string message) : Exception(message);
