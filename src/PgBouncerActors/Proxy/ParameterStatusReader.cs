using System.Buffers;
using System.Text;

namespace PgBouncerActors.Proxy;

internal static class ParameterStatusReader
{
    /// <summary>The name and value of a ParameterStatus payload (two C strings); null when malformed.</summary>
    public static (string Name, string Value)? Read(ReadOnlySequence<byte> payload)
    {
        var span = payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray();
        var nameEnd = span.IndexOf((byte)0);
        if (nameEnd <= 0)
        {
            return null;
        }

        var rest = span[(nameEnd + 1)..];
        var valueEnd = rest.IndexOf((byte)0);
        return (Encoding.UTF8.GetString(span[..nameEnd]), Encoding.UTF8.GetString(valueEnd < 0 ? rest : rest[..valueEnd]));
    }

    /// <summary>Records a ParameterStatus in a parameter set.</summary>
    public static void Apply(ReadOnlySequence<byte> payload, IDictionary<string, string> parameters)
    {
        if (Read(payload) is var (name, value))
        {
            parameters[name] = value;
        }
    }
}
