using System.Net.Sockets;
using Npgsql;

namespace PgBouncerActors.LoadTester.Measurement;

/// <summary>Names a failure the way an operator reads it: the server's SQLSTATE, or what went wrong on the client side.</summary>
internal static class ErrorClassifier
{
    public const string WrongResult = "wrong-result";

    public static string Classify(Exception error) => error switch
    {
        PostgresException postgres => postgres.SqlState,
        OperationCanceledException { InnerException: PostgresException postgres } => postgres.SqlState,
        WrongResultException => WrongResult,
        TimeoutException or OperationCanceledException or NpgsqlException { InnerException: TimeoutException } => "timeout",
        NpgsqlException { InnerException: SocketException socket } => "socket:" + socket.SocketErrorCode,
        NpgsqlException { InnerException: IOException } or IOException => "connection-lost",
        NpgsqlException => "npgsql:" + error.GetType().Name,
        _ => error.GetType().Name,
    };
}

/// <summary>A query answered, but not with the value it asked for: counted as an error, never as a success.</summary>
internal sealed class WrongResultException(string message) : Exception(message);
