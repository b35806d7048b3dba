using PgBouncerActors.Configuration;
using Xunit;

namespace PgBouncerActors.Tests.Configuration;

public sealed class SettingsLoaderSpec
{
    [Fact]
    public void Defaults_are_PgBouncers_and_plain_numbers_are_seconds_as_in_pgbouncer_ini()
    {
        var settings = SettingsLoader.LoadString("""
            pgbouncer { server_idle_timeout = 30, client_login_timeout = 2 minutes, query_wait_timeout = 1500ms }
            databases { appdb { host = db.internal, port = 5433, dbname = app, pool_size = 7, pool_mode = transaction }, "*" { } }
            users { alice { pool_mode = statement } }
            """);
        Assert.Equal((6432, PoolMode.Session, 20, 100, "DISCARD ALL"),
            (settings.ListenPort, settings.PoolMode, settings.DefaultPoolSize, settings.MaxClientConnections, settings.ServerResetQuery));
        Assert.Equal((TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(1500)),
            (settings.ServerIdleTimeout, settings.ClientLoginTimeout, settings.QueryWaitTimeout));
        var app = settings.FindDatabase("appdb")!;
        Assert.Equal(("db.internal", 5433, "app", 7), (app.Host, app.Port, app.ServerDatabase, app.PoolSize));
        Assert.Equal(PoolMode.Transaction, settings.PoolModeFor(app, "bob"));
        Assert.Equal(PoolMode.Statement, settings.PoolModeFor(app, "alice"));
        Assert.Equal("other", settings.FindDatabase("other")!.ServerDatabase); // the "*" fallback keeps the name asked for
    }

    [Theory]
    [InlineData("pgbouncer { listen_prot = 6432 }", "test:1:27: unknown setting 'pgbouncer.listen_prot'")]
    [InlineData("pgbouncer {\n  listen_port = lots\n}", "test:2:17: 'pgbouncer.listen_port': expected an integer")]
    [InlineData("pgbouncer { pool_mode = sometimes }", "test:1:25: 'pgbouncer.pool_mode': expected session, transaction or statement, got 'sometimes'")]
    [InlineData("databases { app { hots = x } }", "test:1:26: unknown setting 'databases.\"app\".hots'")]
    [InlineData("pgbouncer { server_lifetime = forever }", "test:1:31: 'server_lifetime': expected a duration")]
    public void A_config_error_is_one_line_naming_file_line_key_and_what_was_expected(string text, string expected)
    {
        var error = Assert.Throws<ConfigurationException>(() => SettingsLoader.LoadString(text, "test"));
        Assert.StartsWith(expected, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void An_auth_dbname_that_names_no_database_entry_stops_the_load_and_auth_type_hba_needs_its_file()
    {
        var global = Assert.Throws<ConfigurationException>(() => SettingsLoader.LoadString("pgbouncer { auth_user = a, auth_dbname = authdb }"));
        Assert.Contains("pgbouncer.auth_dbname = authdb: no such database entry", global.Message);
        var entry = Assert.Throws<ConfigurationException>(() => SettingsLoader.LoadString("databases { app { auth_dbname = nowhere } }"));
        Assert.Contains("databases.\"app\".auth_dbname = nowhere", entry.Message);
        Assert.Equal("authdb", SettingsLoader.LoadString("databases { app { auth_dbname = authdb }, authdb { } }").Databases["app"].AuthDbName);
        var hba = Assert.Throws<ConfigurationException>(() => SettingsLoader.LoadString("pgbouncer { auth_type = hba }"));
        Assert.Contains("auth_hba_file must be set", hba.Message);
    }

    [Fact]
    public void A_missing_configuration_or_auth_file_names_the_path()
    {
        Assert.Equal("/nonexistent/pooler.conf: configuration file not found",
            Assert.Throws<ConfigurationException>(() => SettingsLoader.LoadFile("/nonexistent/pooler.conf")).Message);
        var error = Assert.Throws<ConfigurationException>(() => SettingsLoader.LoadString("pgbouncer.auth_file = \"/nonexistent/userlist.txt\""));
        Assert.Contains("/nonexistent/userlist.txt: auth_file not found", error.Message);
    }

    [Fact]
    public void The_user_list_reads_PgBouncers_userlist_txt_unchanged()
    {
        var list = UserList.Parse("""
            ;; comment lines and blank lines are skipped

            "alice" "plain secret"
            "bob"   "md5e1e9ab5b5f1b5a6d4b8b1bdb6c1a5e23"
            "quoted""name" "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"
            """, "userlist.txt");
        Assert.Equal(3, list.Count);
        Assert.Equal("plain secret", list.SecretOf("alice"));
        Assert.StartsWith("md5", list.SecretOf("bob"));
        Assert.StartsWith("SCRAM-SHA-256$", list.SecretOf("quoted\"name"));
        Assert.Null(list.SecretOf("carol"));
        Assert.Throws<ConfigurationException>(() => UserList.Parse("\"alice\" \"unterminated", "userlist.txt"));
    }

    [Fact]
    public void Every_shipped_example_loads()
    {
        var hocon = Path.Combine(AppContext.BaseDirectory, "hocon");
        var examples = Directory.GetFiles(hocon, "*.conf").Where(file => Path.GetFileName(file) != "reference.conf").ToArray();
        Assert.NotEmpty(examples);
        foreach (var example in examples)
        {
            var settings = SettingsLoader.LoadString(File.ReadAllText(example).Replace("auth_file = \"userlist.txt\"", "auth_file = \"\""), example);
            Assert.NotEmpty(settings.Databases);
        }
    }
}
