using PgBouncerActors.Configuration;
using Xunit;

namespace PgBouncerActors.Tests.Configuration;

/// <summary>PgBouncer's own pgbouncer.ini read as PgBouncer reads it: sections, libpq strings, %include, and what is not supported.</summary>
public sealed class PgBouncerIniSpec : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgba-ini-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void A_PgBouncer_ini_with_an_include_comments_libpq_database_lines_and_a_userlist_loads_with_later_lines_winning()
    {
        Write("userlist.txt", "\"alice\" \"secret\"\n\"bob\" \"md5ba6f0f6bdc1d4a1e1c7a0b3e2b9e2c0a\"\n");
        Write("pools.ini", """
            [pgbouncer]
            default_pool_size = 30
            """);
        var ini = Write("pgbouncer.ini", """
            ;; PgBouncer's sample, trimmed
            [databases]
            shop = host=10.0.0.5 port=5433 dbname=shop_prod pool_size=5 pool_mode=transaction
            quoted = host=db password='it\'s \\ spaced' user=app
            * = host=127.0.0.1

            [users]
            alice = pool_mode=session

            [pgbouncer]
            listen_addr = *
            listen_port = 6543
            auth_type = md5
            auth_file = userlist.txt
            admin_users = alice, bob
            default_pool_size = 10
            %include pools.ini
            max_client_conn = 500
            server_idle_timeout = 120.5
            # a comment
            ignore_startup_parameters = extra_float_digits,search_path

            [pgbouncer-actors]
            log_level = warning
            metrics.port = 9127
            """);

        var settings = SettingsLoader.LoadFile(ini);

        Assert.Equal(("*", 6543, AuthType.Md5, 500), (settings.ListenAddress, settings.ListenPort, settings.AuthType, settings.MaxClientConnections));
        Assert.Equal(30, settings.DefaultPoolSize); // the included file's line came after default_pool_size = 10
        Assert.Equal(TimeSpan.FromSeconds(120.5), settings.ServerIdleTimeout);
        Assert.Equal(["alice", "bob"], settings.AdminUsers.Order());
        Assert.True(settings.IgnoreStartupParameters.SetEquals(["extra_float_digits", "search_path"]));
        Assert.Equal(2, settings.UserList.Count); // relative to the ini file
        var shop = settings.Databases["shop"];
        Assert.Equal(("10.0.0.5", 5433, "shop_prod", 5, PoolMode.Transaction), (shop.Host, shop.Port, shop.ServerDatabase, shop.PoolSize, shop.PoolMode));
        Assert.Equal("it's \\ spaced", settings.Databases["quoted"].Password);
        Assert.Equal("app", settings.Databases["quoted"].User);
        Assert.Equal("other", settings.FindDatabase("other")!.ServerDatabase);
        Assert.Equal(PoolMode.Session, settings.Users["alice"].PoolMode);
        Assert.Equal(("warning", 9127), (settings.LogLevel, settings.Metrics.Port)); // this pooler's own section
        Assert.Empty(settings.Warnings);
    }

    [Fact]
    public void The_TLS_hba_and_auth_query_settings_of_a_PgBouncer_ini_are_read_with_their_files_relative_to_it()
    {
        Write("hba.conf", "hostssl all all 0.0.0.0/0 scram-sha-256\nhost all all all reject\n");
        var ini = Write("pgbouncer.ini", """
            [databases]
            app = host=127.0.0.1 auth_user=app_auth auth_dbname=authdb auth_query='SELECT usename, passwd FROM pg_shadow WHERE usename=$1'
            authdb = host=127.0.0.1 dbname=postgres
            [pgbouncer]
            auth_type = hba
            auth_hba_file = hba.conf
            auth_user = pgbouncer_auth
            client_tls_sslmode = verify-full
            client_tls_cert_file = server.crt
            client_tls_key_file = server.key
            client_tls_ca_file = ca.crt
            client_tls_protocols = tlsv1.3
            client_tls_ciphers = TLS_AES_256_GCM_SHA384
            server_tls_sslmode = verify-ca
            server_tls_cert_file = client.crt
            server_tls_key_file = client.key
            server_tls_protocols = secure
            """);

        var settings = SettingsLoader.LoadFile(ini);

        Assert.Empty(settings.Warnings);
        Assert.Equal((AuthType.Hba, 2, HbaMethod.ScramSha256), (settings.AuthType, settings.HbaRules.Rules.Count, settings.HbaRules.Rules[0].Method));
        Assert.Equal((ClientTlsMode.VerifyFull, Path.Combine(_folder, "ca.crt"), "tlsv1.3", "TLS_AES_256_GCM_SHA384"),
            (settings.ClientTlsMode, settings.ClientTlsCaFile, settings.ClientTlsProtocols, settings.ClientTlsCiphers));
        Assert.Equal((ServerTlsMode.VerifyCa, Path.Combine(_folder, "client.crt")), (settings.ServerTlsMode, settings.ServerTlsCertFile));
        Assert.Equal("pgbouncer_auth", settings.AuthUser);
        Assert.StartsWith("SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL", settings.AuthQuery); // PgBouncer's default
        var app = settings.Databases["app"];
        Assert.Equal(("app_auth", "authdb", "SELECT usename, passwd FROM pg_shadow WHERE usename=$1"), (app.AuthUser, app.AuthDbName, app.AuthQuery));
    }

    [Fact]
    public void A_databases_connect_query_is_read_whole_from_its_quotes_and_a_host_that_is_a_folder_stays_a_folder()
    {
        var ini = Write("pgbouncer.ini", """
            [databases]
            p8 = host=/var/run/postgresql port=5433 dbname=p0 connect_query='set enable_seqscan=off; set enable_nestloop=off'
            """);

        var settings = SettingsLoader.LoadFile(ini);

        var database = settings.Databases["p8"];
        Assert.Equal("set enable_seqscan=off; set enable_nestloop=off", database.ConnectQuery);
        Assert.Equal("/var/run/postgresql", database.Host);
        Assert.Empty(settings.Warnings);
    }

    [Fact]
    public void A_PgBouncer_setting_this_pooler_lacks_is_a_warning_naming_it_once_and_nothing_else_changes()
    {
        var ini = Write("pgbouncer.ini", """
            [databases]
            app = host=127.0.0.1,127.0.0.2 load_balance_hosts=disable application_name=app
            [pgbouncer]
            tcp_keepalive = 1
            tcp_keepalive = 0
            listen_port = 6432
            """);

        var settings = SettingsLoader.LoadFile(ini);

        Assert.Equal(["'application_name' of database 'app' is PgBouncer's but not supported here; ignored",
            "setting 'tcp_keepalive' is PgBouncer's but not supported here; ignored"], settings.Warnings);
        Assert.Equal(6432, settings.ListenPort);
        Assert.Equal(["127.0.0.1", "127.0.0.2"], settings.Databases["app"].Hosts); // a host list and its load_balance_hosts are read
        Assert.Equal(LoadBalanceHosts.Disable, settings.Databases["app"].LoadBalanceHosts);
    }

    [Theory]
    [InlineData("[pgbouncer]\nlisten_port = 6432\nno_such_setting = 1\n", "pgbouncer.ini:3: unknown parameter: pgbouncer/no_such_setting")]
    [InlineData("[databases]\napp = host=x colour=blue\n", "pgbouncer.ini:2: unknown parameter 'colour' for database 'app'")]
    [InlineData("[pgbouncer]\nlisten_port\n", "pgbouncer.ini:2: expected 'key = value'")]
    [InlineData("[elsewhere]\n", "pgbouncer.ini:1: unknown section [elsewhere]")]
    [InlineData("[pgbouncer-actors]\nlog_levle = debug\n", "pgbouncer.ini:2:")]
    [InlineData("[databases]\napp = host='x\n", "pgbouncer.ini:2: unterminated quoted value for 'host'")]
    public void A_line_PgBouncer_would_refuse_stops_startup_naming_the_file_and_line(string text, string expected)
    {
        var ini = Write("pgbouncer.ini", text);
        var error = Assert.Throws<ConfigurationException>(() => SettingsLoader.LoadFile(ini));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_wrong_value_is_reported_at_the_ini_line_that_holds_it()
    {
        var ini = Write("pgbouncer.ini", "[pgbouncer]\nlisten_port = 6432\n\ndefault_pool_size = many\n");
        var error = Assert.Throws<ConfigurationException>(() => SettingsLoader.LoadFile(ini));
        Assert.Contains("pgbouncer.ini:4", error.Message);
        Assert.Contains("default_pool_size", error.Message);
    }

    [Fact]
    public void An_ini_that_includes_itself_is_refused_rather_than_read_forever()
    {
        var ini = Write("pgbouncer.ini", "[pgbouncer]\n%include pgbouncer.ini\n");
        var error = Assert.Throws<ConfigurationException>(() => SettingsLoader.LoadFile(ini));
        Assert.Contains("%include nested more than 10 deep", error.Message);
    }
}
