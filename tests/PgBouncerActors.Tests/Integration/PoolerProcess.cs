using System.Collections.Concurrent;
using System.Diagnostics;
using PgBouncerActors.Demo;

namespace PgBouncerActors.Tests.Integration;

/// <summary>
/// The real pgbouncer-actors executable started with a configuration file, as an operator runs it:
/// its console output collected line by line, signals sent to it with kill(1).
/// </summary>
internal sealed class PoolerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private PoolerProcess(Process process, int port, string configFile)
    {
        _process = process;
        Port = port;
        ConfigFile = configFile;
        process.OutputDataReceived += (_, line) => Collect(line.Data);
        process.ErrorDataReceived += (_, line) => Collect(line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Port { get; }

    public string ConfigFile { get; }

    public IReadOnlyCollection<string> Lines => _lines;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public int ProcessId => _process.Id;

    /// <summary>
    /// Starts the executable on a free port with <paramref name="configuration"/> (HOCON, or
    /// pgbouncer.ini given <c>.ini</c>; <c>{port}</c> is replaced) and waits until it listens.
    /// An ini file is passed as pgbouncer takes it, as the only argument.
    /// </summary>
    /// <param name="port">The port to listen on (several instances share one with so_reuseport); a free one when null.</param>
    /// <param name="command">
    /// Another build of the pooler: the program and its arguments, to which the configuration file is
    /// added; null: the build beside the tests, run by dotnet (with --config for HOCON).
    /// </param>
    public static async Task<PoolerProcess> StartAsync(string configuration, IReadOnlyDictionary<string, string>? environment = null,
        string extension = ".conf", string? folder = null, int? port = null, IReadOnlyList<string>? command = null)
    {
        port ??= ScratchCluster.FreePort();
        var configFile = Path.Combine(folder ?? Path.GetTempPath(), $"pgba-process-{Guid.NewGuid():N}{extension}");
        await File.WriteAllTextAsync(configFile, configuration.Replace("{port}", port.Value.ToString()));
        command ??= BesideTheTests(extension);
        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add(configFile);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var pooler = new PoolerProcess(Process.Start(start)!, port.Value, configFile);
        await pooler.WaitForLineAsync("listening on");
        return pooler;
    }

    /// <summary>The dotnet that runs the tests (by its path, when it is one), or the one on PATH.</summary>
    public static string Dotnet => Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";

    /// <summary>How the build beside the tests is started: by dotnet, with --config for a HOCON file; the configuration file follows.</summary>
    public static string[] BesideTheTests(string extension = ".conf") => extension == ".conf"
        ? [Dotnet, Path.Combine(AppContext.BaseDirectory, "pgbouncer-actors.dll"), "--config"]
        : [Dotnet, Path.Combine(AppContext.BaseDirectory, "pgbouncer-actors.dll")];

    /// <summary>Waits for a line containing <paramref name="text"/> that was not there before (counting from <paramref name="after"/> lines).</summary>
    public async Task<string> WaitForLineAsync(string text, int after = 0, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < deadline)
        {
            if (_lines.Skip(after).FirstOrDefault(line => line.Contains(text, StringComparison.Ordinal)) is { } line)
            {
                return line;
            }

            if (_process.HasExited)
            {
                // Its last lines may still be on their way from the output readers: WaitForExit() waits for both
                // redirected streams to end (HasExited does not), then they are looked at once more.
                _process.WaitForExit();
                if (_lines.Skip(after).FirstOrDefault(line => line.Contains(text, StringComparison.Ordinal)) is { } last)
                {
                    return last;
                }

                break;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"no line with \"{text}\"; the pooler printed:\n{string.Join('\n', _lines)}");
    }

    /// <summary>Waits until the process has ended (after SIGTERM, SHUTDOWN or SIGKILL).</summary>
    public async Task WaitForExitAsync(TimeSpan timeout) => await _process.WaitForExitAsync().WaitAsync(timeout);

    public async Task SignalAsync(string signal) => await ScratchCluster.RunAsync("kill", ["-s", signal, _process.Id.ToString()]);

    private void Collect(string? line)
    {
        if (line is not null)
        {
            _lines.Enqueue(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await SignalAsync("TERM");
            if (!_process.WaitForExit(TimeSpan.FromSeconds(20)))
            {
                _process.Kill();
            }
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        File.Delete(ConfigFile);
    }
}
