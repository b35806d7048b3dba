using System.Net;

namespace PgBouncerActors.Net;

/// <summary>listen_addr as PgBouncer takes it: "*" (or empty) for every IPv4 interface, an address, or a host name.</summary>
internal static class ListenAddress
{
    public static IPAddress Resolve(string text) => text is "*" or "" ? IPAddress.Any
        : IPAddress.TryParse(text, out var parsed) ? parsed
        : Dns.GetHostAddresses(text).First();
}
