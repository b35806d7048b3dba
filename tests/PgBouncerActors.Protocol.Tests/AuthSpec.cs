using System.Text;
using PgBouncerActors.Protocol.Auth;
using Xunit;

namespace PgBouncerActors.Protocol.Tests;

public sealed class AuthSpec
{
    // RFC 7677 section 3: user "user", password "pencil".
    private const string ClientNonce = "rOprNGfwEbeRWgbNEkqO";
    private const string ServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    private const string ServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    private const string ClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    private const string ServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    private static ScramSecret PencilSecret() => ScramSecret.FromPassword("pencil", Convert.FromBase64String("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);

    [Fact]
    public void Scram_server_reproduces_the_RFC_7677_exchange()
    {
        var server = new ScramServerExchange(PencilSecret(), ServerNonce);
        Assert.Equal(ServerFirst, server.HandleClientFirst($"n,,n=user,r={ClientNonce}"));
        Assert.Equal(ServerFinal, server.HandleClientFinal(ClientFinal));
        Assert.NotNull(server.ClientKey);
    }

    [Fact]
    public void Scram_client_reproduces_the_RFC_7677_exchange()
    {
        // The RFC's client names the user; PostgreSQL's leaves it empty, so the proof differs only through the bare message.
        var client = ScramClientExchange.WithPassword("pencil", ClientNonce);
        Assert.Equal($"n,,n=,r={ClientNonce}", client.ClientFirst);
        var server = new ScramServerExchange(PencilSecret(), ServerNonce);
        Assert.Equal(ServerFirst, server.HandleClientFirst(client.ClientFirst));
        var final = client.HandleServerFirst(ServerFirst);
        var serverFinal = server.HandleClientFinal(final);
        Assert.NotNull(serverFinal);
        client.VerifyServerFinal(serverFinal!);
    }

    [Fact]
    public void Scram_server_refuses_a_wrong_password_and_the_client_refuses_a_wrong_server()
    {
        var server = new ScramServerExchange(PencilSecret());
        var client = ScramClientExchange.WithPassword("crayon");
        var final = client.HandleServerFirst(server.HandleClientFirst(client.ClientFirst));
        Assert.Null(server.HandleClientFinal(final));
        Assert.Throws<ScramException>(() => client.VerifyServerFinal("v=" + Convert.ToBase64String(new byte[32])));
    }

    [Fact]
    public void A_client_key_recovered_from_a_login_logs_in_again_without_the_password()
    {
        var secret = PencilSecret();
        var first = new ScramServerExchange(secret);
        var client = ScramClientExchange.WithPassword("pencil");
        first.HandleClientFinal(client.HandleServerFirst(first.HandleClientFirst(client.ClientFirst)));

        var replay = ScramClientExchange.WithKeys(secret, first.ClientKey!);
        var second = new ScramServerExchange(secret);
        var serverFinal = second.HandleClientFinal(replay.HandleServerFirst(second.HandleClientFirst(replay.ClientFirst)));
        replay.VerifyServerFinal(serverFinal!);
    }

    [Fact]
    public void Scram_secrets_parse_in_PostgreSQL_format_and_print_back()
    {
        var text = PencilSecret().ToString();
        Assert.StartsWith("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$", text);
        Assert.True(ScramSecret.TryParse(text, out var parsed));
        Assert.Equal(text, parsed.ToString());
        Assert.False(ScramSecret.TryParse("SCRAM-SHA-256$x:y$z", out _));
    }

    [Fact]
    public void Channel_binding_is_refused_without_TLS()
    {
        var server = new ScramServerExchange(PencilSecret());
        Assert.Throws<ScramException>(() => server.HandleClientFirst("p=tls-server-end-point,,n=,r=abc"));
    }

    [Fact]
    public void Md5_matches_PostgreSQL()
    {
        // SELECT 'md5' || md5('secret' || 'alice') in PostgreSQL gives this value.
        Assert.Equal("md5" + Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(Encoding.UTF8.GetBytes("secretalice"))),
            Md5Password.Secret("alice", "secret"));
        var secret = Md5Password.Secret("alice", "secret");
        Assert.True(Md5Password.IsSecret(secret));
        var salt = new byte[] { 1, 2, 3, 4 };
        var expected = "md5" + Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData([.. Encoding.ASCII.GetBytes(secret[3..]), .. salt]));
        Assert.Equal(expected, Md5Password.Response(secret, salt));
    }
}
