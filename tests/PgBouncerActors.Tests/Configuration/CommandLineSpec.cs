using PgBouncerActors.Hosting;
using Xunit;

namespace PgBouncerActors.Tests.Configuration;

/// <summary>The command line as PgBouncer's getopt_long reads its own: what a service unit or PgBouncer's test suite passes must mean the same here.</summary>
public sealed class CommandLineSpec
{
    [Theory]
    [InlineData("--quiet pgbouncer.ini", false, true, 0, null)] // how PgBouncer's test suite starts it
    [InlineData("-d -q -v -u postgres pgbouncer.ini", true, true, 1, "postgres")]
    [InlineData("-dqvv pgbouncer.ini", true, true, 2, null)]
    [InlineData("pgbouncer.ini -v --verbose", false, false, 2, null)] // options after the file, as getopt permutes them
    [InlineData("-upostgres pgbouncer.ini", false, false, 0, "postgres")]
    [InlineData("--user=postgres --daemon pgbouncer.ini", true, false, 0, "postgres")]
    [InlineData("--user postgres -- pgbouncer.ini", false, false, 0, "postgres")]
    public void PgBouncers_options_run_the_pooler_with_the_file(string args, bool daemon, bool quiet, int verbose, string? user)
    {
        var line = CommandLine.Parse(args.Split(' '));

        Assert.Equal(new CommandLine(CommandKind.Run, "pgbouncer.ini", daemon, quiet, verbose, user), line);
    }

    [Theory]
    [InlineData("-V", nameof(CommandKind.Version))]
    [InlineData("--version", nameof(CommandKind.Version))]
    [InlineData("-h", nameof(CommandKind.Help))]
    [InlineData("--help pgbouncer.ini", nameof(CommandKind.Help))]
    [InlineData("-q -V", nameof(CommandKind.Version))]
    [InlineData("demo", nameof(CommandKind.Demo))]
    public void Version_help_and_the_demo_need_no_file(string args, string kind) => Assert.Equal(kind, CommandLine.Parse(args.Split(' ')).Kind.ToString());

    [Fact]
    public void A_HOCON_file_is_named_with_config() =>
        Assert.Equal("pooler.conf", CommandLine.Parse(["--config", "pooler.conf"]).ConfigFile);

    [Fact]
    public void The_demo_takes_a_port() => Assert.Equal(7000, CommandLine.Parse(["demo", "--port", "7000"]).DemoPort);

    [Theory]
    [InlineData("", "no configuration file specified")] // no longer a trust-authentication demo on 6432 by surprise
    [InlineData("-q", "no configuration file specified")]
    [InlineData("a.ini b.ini", "only one configuration file may be given")]
    [InlineData("-x a.ini", "invalid option -- 'x'")]
    [InlineData("--frobnicate a.ini", "unrecognized option '--frobnicate'")]
    [InlineData("a.ini -u", "option requires an argument -- 'u'")]
    [InlineData("-R a.ini", "online reboot (-R, --reboot) is not supported")]
    [InlineData("--reboot a.ini", "online reboot (-R, --reboot) is not supported")]
    [InlineData("demo --port x", "demo takes only --port N")]
    public void A_command_line_that_cannot_run_says_why(string args, string reason)
    {
        var refused = Assert.Throws<CommandLineException>(() => CommandLine.Parse(args.Length == 0 ? [] : args.Split(' ')));

        Assert.StartsWith(reason, refused.Message);
    }
}
