using System.Net.Sockets;
using Npgsql;
using PgBouncerActors.Demo;
using Xunit;

namespace PgBouncerActors.Tests.Integration;

/// <summary>The Unix socket, as psql and Npgsql reach it by folder (libpq's way), with the same pools and authentication as TCP.</summary>
[Collection(PostgresCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class UnixSocketSpec(PostgresFixture postgres) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgba-sock-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Psql_and_Npgsql_log_in_over_the_socket_in_unix_socket_dir_with_its_mode_and_it_is_removed_at_stop()
    {
        var pooler = postgres.StartPooler($"unix_socket_dir = \"{_folder}\", unix_socket_mode = \"0700\", pool_mode = transaction, admin_users = {PostgresFixture.ScramUser}");
        var socketFile = Path.Combine(_folder, $".s.PGSQL.{pooler.Port}");
        try
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(socketFile));
            var output = await postgres.RunToolAsync("psql", ["-X", "-At", "-h", _folder, "-p", pooler.Port.ToString(), "-U", PostgresFixture.ScramUser,
                "-c", "select inet_client_addr() is not null", "postgres"]);
            Assert.Equal("t", output.Trim()); // the server saw the pooler's TCP connection; the client came by socket

            var connectionString = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString(pooler.Port)) { Host = _folder }.ConnectionString;
            await using var client = new NpgsqlConnection(connectionString);
            await client.OpenAsync();
            await using var select = new NpgsqlCommand("select 41 + 1", client);
            Assert.Equal(42, await select.ExecuteScalarAsync());

            await using var wrongPassword = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Password = "wrong" }.ConnectionString);
            var refused = await Assert.ThrowsAsync<PostgresException>(() => wrongPassword.OpenAsync());
            Assert.Equal("28P01", refused.SqlState); // the same authentication as over TCP

            var clients = await postgres.RunToolAsync("psql", ["-X", "-At", "-h", _folder, "-p", pooler.Port.ToString(), "-U", PostgresFixture.ScramUser,
                "-c", "show clients", "pgbouncer"]);
            Assert.Contains(clients.Split('\n'), line => line.StartsWith($"C|{PostgresFixture.ScramUser}|postgres|none|idle|unix|{pooler.Port}|", StringComparison.Ordinal)); // idle: between transactions, without a server connection
        }
        finally
        {
            await pooler.StopAsync();
        }

        Assert.False(File.Exists(socketFile), "the socket file outlived the pooler");
    }

    [Fact]
    public async Task The_poolers_own_OS_user_over_the_socket_is_an_admin_of_the_console_without_a_password_but_not_over_TCP()
    {
        await using var pooler = postgres.StartPooler($"unix_socket_dir = \"{_folder}\"", own: "shutdown_timeout = 0"); // scram-sha-256, nobody in admin_users
        // psql runs as this test's OS user, which is the pooler's: the console lets it in as admin whatever name it gives.
        var config = await postgres.RunToolAsync("psql", ["-X", "-At", "-h", _folder, "-p", pooler.Port.ToString(), "-U", "whoever",
            "-c", "SET default_pool_size = 30", "-c", "SHOW CONFIG", "pgbouncer"]); // SET is for admins only
        Assert.Contains(config.Split('\n'), line => line.StartsWith("default_pool_size|30|", StringComparison.Ordinal));

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => postgres.RunToolAsync("psql",
            ["-X", "-At", "-h", "127.0.0.1", "-p", pooler.Port.ToString(), "-U", "whoever", "-c", "SHOW STATE", "pgbouncer"]));
        Assert.Contains("password authentication failed", refused.Message); // over TCP it authenticates as auth_type says
    }

    [Fact]
    public async Task A_socket_file_left_by_a_pooler_that_died_is_replaced_but_a_live_one_is_not_taken()
    {
        var port = ScratchCluster.FreePort();
        var path = Path.Combine(_folder, $".s.PGSQL.{port}");
        // A process that bound the name and exited without removing the file, as after a kill -9
        // (.NET removes its own socket files when it closes them, so another program makes this one).
        await ScratchCluster.RunAsync("perl", ["-MIO::Socket::UNIX", "-e", "IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $ARGV[0]) or die $!", path]);

        Assert.True(File.Exists(path));
        await using var pooler = postgres.StartPooler($"listen_port = {port}, unix_socket_dir = \"{_folder}\"");
        var output = await postgres.RunToolAsync("psql", ["-X", "-At", "-h", _folder, "-p", port.ToString(), "-U", PostgresFixture.ScramUser, "-c", "select 1", "postgres"]);
        Assert.Equal("1", output.Trim());

        var livePort = ScratchCluster.FreePort();
        using var live = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        live.Bind(new UnixDomainSocketEndPoint(Path.Combine(_folder, $".s.PGSQL.{livePort}")));
        live.Listen(); // someone else's, alive
        var error = Assert.Throws<PgBouncerActors.Configuration.ConfigurationException>(() =>
            postgres.StartPooler($"listen_port = {livePort}, unix_socket_dir = \"{_folder}\""));
        Assert.Contains("another process is listening on it", error.Message);
    }
}
