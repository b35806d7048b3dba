using Xunit;

namespace PgBouncerActors.Hocon.Tests;

/// <summary>A user's file over <c>reference.conf</c>: how the pooler reads its configuration.</summary>
public sealed class FallbackSpec
{
    private const string Reference = """
        pgbouncer {
          listen_addr = 127.0.0.1
          listen_port = 6432
          pool_mode = session
          default_pool_size = 20
          ignore_startup_parameters = [extra_float_digits]
          admin_url = "postgres://"${pgbouncer.listen_addr}":"${pgbouncer.listen_port}"/pgbouncer"
        }
        """;

    private static Config Layered(string user, Func<string, string?>? environment = null) =>
        ConfigFactory.ParseString(user, "user.conf", environment: environment ?? (_ => null))
            .WithFallback(ConfigFactory.ParseString(Reference, "reference.conf"));

    [Fact]
    public void The_users_values_must_win_and_the_rest_must_come_from_the_fallback()
    {
        var config = Layered("pgbouncer { pool_mode = transaction }");
        Assert.Equal("transaction", config.GetString("pgbouncer.pool_mode"));
        Assert.Equal(20, config.GetInt("pgbouncer.default_pool_size"));
    }

    [Fact]
    public void A_substitution_in_the_fallback_must_see_the_users_override()
    {
        var config = Layered("pgbouncer.listen_port = 7432");
        Assert.Equal("postgres://127.0.0.1:7432/pgbouncer", config.GetString("pgbouncer.admin_url"));
    }

    [Fact]
    public void A_substitution_in_the_users_file_must_see_the_fallbacks_defaults()
    {
        var config = Layered("pgbouncer.stats_port = ${pgbouncer.listen_port}");
        Assert.Equal(6432, config.GetInt("pgbouncer.stats_port"));
    }

    [Fact]
    public void Append_in_the_users_file_must_extend_the_fallbacks_list()
    {
        var config = Layered("pgbouncer.ignore_startup_parameters += options");
        Assert.Equal(["extra_float_digits", "options"], config.GetStringList("pgbouncer.ignore_startup_parameters"));
    }

    [Fact]
    public void An_optional_environment_variable_must_override_only_when_it_is_set()
    {
        const string user = "pgbouncer.listen_port = ${?PGBOUNCER_PORT}";
        Assert.Equal(6432, Layered(user).GetInt("pgbouncer.listen_port"));
        Assert.Equal(9999, Layered(user, name => name == "PGBOUNCER_PORT" ? "9999" : null).GetInt("pgbouncer.listen_port"));
    }

    [Fact]
    public void The_process_environment_must_be_the_default_source_of_variables()
    {
        var name = "PGBA_HOCON_SPEC_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(name, "from-the-environment");
        try
        {
            Assert.Equal("from-the-environment", ConfigFactory.ParseString($"value = ${{{name}}}").GetString("value"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }
}

public sealed class IncludeSpec
{
    [Fact]
    public void An_include_inside_an_included_file_must_be_relative_to_that_file()
    {
        using var folder = new TempFolder();
        Directory.CreateDirectory(Path.Combine(folder.Path, "conf.d"));
        folder.Write("conf.d/pools.conf", "include \"limits.conf\"\npool_mode = transaction\n");
        folder.Write("conf.d/limits.conf", "max_client_conn = 500\n");
        var main = folder.Write("main.conf", "pgbouncer { include \"conf.d/pools.conf\" }\n");

        var config = ConfigFactory.ParseFile(main);

        Assert.Equal(500, config.GetInt("pgbouncer.max_client_conn"));
        Assert.Equal("transaction", config.GetString("pgbouncer.pool_mode"));
    }

    [Fact]
    public void A_substitution_in_a_file_included_under_a_key_must_find_its_siblings_under_that_key()
    {
        using var folder = new TempFolder();
        folder.Write("pool.conf", "size = 20\nreserve = ${size}\nport = ${listen_port}\n");
        var main = folder.Write("main.conf", "listen_port = 6432\npgbouncer { include \"pool.conf\" }\n");

        var config = ConfigFactory.ParseFile(main);

        Assert.Equal(20, config.GetInt("pgbouncer.reserve")); // fixed up to ${pgbouncer.size}
        Assert.Equal(6432, config.GetInt("pgbouncer.port"));  // not found under the key: the root path
    }
}
