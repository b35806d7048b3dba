using System.Globalization;

namespace PgBouncerActors.Hocon;

/// <summary>Durations and sizes with the units of the HOCON specification.</summary>
public static class HoconUnits
{
    private static readonly Dictionary<string, double> DurationUnitsInTicks = BuildDurationUnits();
    private static readonly Dictionary<string, long> SizeUnits = BuildSizeUnits();

    /// <summary><c>30s</c>, <c>500 ms</c>, <c>5 minutes</c>; a bare number is milliseconds.</summary>
    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = default;
        if (!TrySplit(text, out var number, out var unit))
        {
            return false;
        }

        if (!DurationUnitsInTicks.TryGetValue(unit.Length == 0 ? "ms" : unit, out var ticksPerUnit))
        {
            return false;
        }

        var ticks = number * ticksPerUnit;
        if (double.IsNaN(ticks) || ticks > TimeSpan.MaxValue.Ticks || ticks < TimeSpan.MinValue.Ticks)
        {
            return false;
        }

        duration = TimeSpan.FromTicks((long)Math.Round(ticks));
        return true;
    }

    /// <summary><c>512K</c> (KiB), <c>1MB</c> (10^6), <c>64MiB</c>; a bare number is bytes.</summary>
    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        if (!TrySplit(text, out var number, out var unit) || number < 0 || !SizeUnits.TryGetValue(unit, out var multiplier))
        {
            return false;
        }

        var total = number * multiplier;
        if (total > long.MaxValue || total != Math.Floor(total))
        {
            return false;
        }

        bytes = (long)total;
        return true;
    }

    private static bool TrySplit(string text, out double number, out string unit)
    {
        var trimmed = text.Trim();
        var split = 0;
        while (split < trimmed.Length && (char.IsAsciiDigit(trimmed[split]) || trimmed[split] is '.' or '-' or '+' or 'e' or 'E'))
        {
            // 'e' belongs to the number only when a digit follows (1e3), not in "5 seconds".
            if (trimmed[split] is 'e' or 'E' && (split + 1 >= trimmed.Length || !char.IsAsciiDigit(trimmed[split + 1])))
            {
                break;
            }

            split++;
        }

        unit = trimmed[split..].Trim();
        return double.TryParse(trimmed[..split], NumberStyles.Float, CultureInfo.InvariantCulture, out number) &&
               unit.All(char.IsAsciiLetter);
    }

    private static Dictionary<string, double> BuildDurationUnits() => UnitTable<double>(
        (0.01, ["ns", "nano", "nanos", "nanosecond", "nanoseconds"]),
        (10, ["us", "micro", "micros", "microsecond", "microseconds"]),
        (TimeSpan.TicksPerMillisecond, ["ms", "milli", "millis", "millisecond", "milliseconds"]),
        (TimeSpan.TicksPerSecond, ["s", "second", "seconds"]),
        (TimeSpan.TicksPerMinute, ["m", "minute", "minutes"]),
        (TimeSpan.TicksPerHour, ["h", "hour", "hours"]),
        (TimeSpan.TicksPerDay, ["d", "day", "days"]));

    // The spec: kB, MB... are powers of ten; K, Ki, KiB... are powers of two.
    private static Dictionary<string, long> BuildSizeUnits() => UnitTable<long>(
        (1, ["", "B", "b", "byte", "bytes"]),
        (1000, ["kB", "kilobyte", "kilobytes"]),
        (1L << 10, ["K", "k", "Ki", "KiB", "kibibyte", "kibibytes"]),
        (1000_000, ["MB", "megabyte", "megabytes"]),
        (1L << 20, ["M", "m", "Mi", "MiB", "mebibyte", "mebibytes"]),
        (1000_000_000, ["GB", "gigabyte", "gigabytes"]),
        (1L << 30, ["G", "g", "Gi", "GiB", "gibibyte", "gibibytes"]),
        (1000_000_000_000, ["TB", "terabyte", "terabytes"]),
        (1L << 40, ["T", "t", "Ti", "TiB", "tebibyte", "tebibytes"]));

    private static Dictionary<string, T> UnitTable<T>(params (T Value, string[] Names)[] rows) =>
        rows.SelectMany(row => row.Names.Select(name => KeyValuePair.Create(name, row.Value)))
            .ToDictionary(StringComparer.Ordinal);
}
