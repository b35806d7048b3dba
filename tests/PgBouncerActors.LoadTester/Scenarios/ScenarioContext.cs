using Npgsql;
using PgBouncerActors.LoadTester.Measurement;

namespace PgBouncerActors.LoadTester.Scenarios;

/// <summary>What every scenario shares: where to connect, what to run, where results go.</summary>
internal sealed class ScenarioContext(string connectionString, Workload workload, RunRecorder recorder)
{
    /// <summary>
    /// Npgsql's own pool is off: every client of the scenario is one real connection to the
    /// pooler under test, opened and closed when the scenario says.
    /// </summary>
    private readonly string _connectionString = new NpgsqlConnectionStringBuilder(connectionString)
    {
        Pooling = false,
        Timeout = 60,
        CommandTimeout = 60,
    }.ConnectionString;

    public Workload Workload { get; } = workload;

    public RunRecorder Recorder { get; } = recorder;

    public async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        Recorder.ConnectionOpened();
        return connection;
    }

    public async Task CloseAsync(NpgsqlConnection? connection)
    {
        if (connection is null)
        {
            return;
        }

        var wasOpen = connection.FullState != System.Data.ConnectionState.Closed;
        await connection.DisposeAsync().ConfigureAwait(false);
        if (wasOpen)
        {
            Recorder.ConnectionClosed();
        }
    }

    /// <summary>Runs one operation, timing it; a failure is counted by its SQLSTATE and reported as false.</summary>
    public async Task<bool> MeasureAsync(WorkerLog log, Func<Task> operation, CancellationToken cancellationToken)
    {
        var started = log.Start();
        try
        {
            await operation().ConfigureAwait(false);
            log.Succeeded(started);
            return true;
        }
        catch (Exception error) when (!cancellationToken.IsCancellationRequested || error is not OperationCanceledException)
        {
            Recorder.Error(ErrorClassifier.Classify(error));
            return false;
        }
    }
}
