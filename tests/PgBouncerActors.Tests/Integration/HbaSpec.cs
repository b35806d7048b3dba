using Npgsql;
using PgBouncerActors.Hosting;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// auth_type = hba with an hba file as an operator writes it: lines chosen by connection type
/// (local, host, hostssl), database, user and address (CIDR and address-with-mask), the first
/// match deciding; psql and Npgsql see PostgreSQL's own refusals.
/// </summary>
[Collection(PostgresCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HbaSpec(PostgresFixture postgres) : IAsyncLifetime
{
    private const string PeerPassword = "peer-pass";
    private readonly string _folder = Directory.CreateTempSubdirectory("pgba-hba-").FullName;
    private readonly string _osUser = Environment.UserName;
    private PoolerHost _pooler = null!;

    public async Task InitializeAsync()
    {
        var ca = await TestCa.CreateAsync(_folder, "ca");
        var server = await ca.IssueServerAsync("server");
        // The OS user running the tests gets a role of its own, for the peer line.
        await postgres.Cluster.RunSqlAsync($"DROP ROLE IF EXISTS \"{_osUser}\"; CREATE ROLE \"{_osUser}\" LOGIN PASSWORD '{PeerPassword}';");
        var userList = Path.Combine(_folder, "userlist.txt");
        await File.WriteAllTextAsync(userList, await File.ReadAllTextAsync(postgres.UserListPath) + $"\n\"{_osUser}\" \"{PeerPassword}\"\n");
        await File.WriteAllTextAsync(Path.Combine(_folder, "md5users"), $"# users allowed md5 from loopback\n{PostgresFixture.Md5User}\n");
        var hba = Path.Combine(_folder, "hba.conf");
        await File.WriteAllTextAsync(hba, $"""
            # TYPE  DATABASE        USER        ADDRESS                    METHOD
            local   postgres        all                                    peer
            local   bench           all                                    peer  map=osusers
            local   all             all                                    reject
            hostssl bench , nowhere all         127.0.0.1/32               scram-sha-256
            host    all             @md5users   10.0.0.0/8                 trust
            host    "postgres"      @md5users   127.0.0.1 255.255.255.255  md5
            host    postgres,bench  all         ::1/128                    trust
            host    postgres        all         127.0.0.0/8                scram-sha-256
            host    all             all         0.0.0.0/0                  reject
            """);
        // auth_ident_file: the OS user may log in as the SCRAM user where a line says map=osusers.
        var ident = Path.Combine(_folder, "ident.conf");
        await File.WriteAllTextAsync(ident, $"# MAPNAME  SYSTEM-USERNAME  PG-USERNAME\nosusers \"{_osUser}\" {PostgresFixture.ScramUser}\nosusers /^nobody-(.*)$ \\1\n");
        _pooler = postgres.StartPooler(
            $"auth_ident_file = \"{ident}\", auth_type = hba, auth_hba_file = \"{hba}\", auth_file = \"{userList}\", unix_socket_dir = \"{_folder}\", pool_mode = transaction, " +
            $"client_tls_sslmode = prefer, client_tls_cert_file = \"{server.Certificate}\", client_tls_key_file = \"{server.Key}\"");
    }

    public async Task DisposeAsync()
    {
        await _pooler.DisposeAsync();
        await postgres.Cluster.RunSqlAsync($"DROP ROLE IF EXISTS \"{_osUser}\";");
        Directory.Delete(_folder, recursive: true);
    }

    private Task<string> PsqlAsync(string connection, string command = "select current_user") =>
        postgres.RunToolAsync("psql", ["-X", "-At", "-c", command, connection]);

    private string Tcp(string database, string ssl, string user = PostgresFixture.ScramUser, string password = PostgresFixture.ScramPassword) =>
        $"host=127.0.0.1 port={_pooler.Port} user={user} password={password} dbname={database} sslmode={ssl}";

    private string Local(string database, string user) => $"host={_folder} port={_pooler.Port} user={user} password={PeerPassword} dbname={database}";

    [Fact]
    public async Task A_plaintext_client_is_refused_where_only_a_hostssl_line_admits_it_and_served_over_TLS()
    {
        Assert.Equal(PostgresFixture.ScramUser, (await PsqlAsync(Tcp("bench", "require"))).Trim());
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => PsqlAsync(Tcp("bench", "disable")));
        Assert.Contains($"pg_hba.conf rejects connection for host \"127.0.0.1\", user \"{PostgresFixture.ScramUser}\", database \"bench\", no encryption",
            refused.Message); // the hostssl line did not match: the catch-all reject did
    }

    [Fact]
    public async Task Lines_match_by_address_and_database_and_the_first_match_decides_the_method()
    {
        // 10.0.0.0/8 trust does not match 127.0.0.1: the address-and-mask md5 line does, so a wrong password fails.
        await using (var md5 = new NpgsqlConnection(PostgresFixture.ConnectionString(_pooler.Port, PostgresFixture.Md5User, PostgresFixture.Md5Password)))
        {
            await md5.OpenAsync();
        }

        await using var wrong = new NpgsqlConnection(PostgresFixture.ConnectionString(_pooler.Port, PostgresFixture.Md5User, "wrong"));
        Assert.Equal("28P01", (await Assert.ThrowsAsync<PostgresException>(() => wrong.OpenAsync())).SqlState);

        // postgres takes the SCRAM user by the 127.0.0.0/8 line; template1 has no line but the catch-all reject.
        Assert.Equal(PostgresFixture.ScramUser, (await PsqlAsync(Tcp("postgres", "disable"))).Trim());
        await using var other = new NpgsqlConnection(PostgresFixture.ConnectionString(_pooler.Port, database: "template1"));
        var rejected = await Assert.ThrowsAsync<PostgresException>(() => other.OpenAsync());
        Assert.Equal(("28000", $"pg_hba.conf rejects connection for host \"127.0.0.1\", user \"{PostgresFixture.ScramUser}\", database \"template1\", no encryption"),
            (rejected.SqlState, rejected.MessageText));
    }

    [Fact]
    public async Task Local_lines_apply_to_the_Unix_socket_peer_checks_the_OS_user()
    {
        Assert.Equal(_osUser, (await PsqlAsync(Local("postgres", _osUser))).Trim()); // peer: the OS user is the user
        var impostor = await Assert.ThrowsAsync<InvalidOperationException>(() => PsqlAsync(Local("postgres", PostgresFixture.ScramUser)));
        Assert.Contains($"Peer authentication failed for user \"{PostgresFixture.ScramUser}\"", impostor.Message);
        var rejected = await Assert.ThrowsAsync<InvalidOperationException>(() => PsqlAsync(Local("template1", _osUser)));
        Assert.Contains($"pg_hba.conf rejects connection for host \"[local]\", user \"{_osUser}\", database \"template1\"", rejected.Message);
    }

    [Fact]
    public async Task A_peer_line_with_map_lets_the_OS_user_log_in_as_the_users_auth_ident_file_maps_it_to_and_no_other()
    {
        Assert.Equal(PostgresFixture.ScramUser, (await PsqlAsync(Local("bench", PostgresFixture.ScramUser))).Trim());
        var unmapped = await Assert.ThrowsAsync<InvalidOperationException>(() => PsqlAsync(Local("bench", PostgresFixture.Md5User)));
        Assert.Contains($"Peer authentication failed for user \"{PostgresFixture.Md5User}\"", unmapped.Message);
        var itself = await Assert.ThrowsAsync<InvalidOperationException>(() => PsqlAsync(Local("bench", _osUser))); // with a map, only the map decides
        Assert.Contains($"Peer authentication failed for user \"{_osUser}\"", itself.Message);
    }
}
