using System.Net;
using System.Net.Sockets;

namespace PgBouncerActors.Tests.Integration;

/// <summary>How the proxy treats a connection it accepts.</summary>
internal enum ProxyAccept
{
    /// <summary>Connect to the target and forward both ways.</summary>
    Forward,

    /// <summary>Accept, wait <see cref="FaultProxy.RefuseAfter"/>, close: a server that is down (each login fails after the same time).</summary>
    Refuse,

    /// <summary>Accept and never answer nor close: a server that stopped answering, or a black-holed network.</summary>
    Blackhole,
}

/// <summary>
/// A TCP proxy between the pooler and PostgreSQL that misbehaves on demand: refuses or swallows
/// new connections, delays what it forwards, freezes established connections (nothing passes,
/// nothing closes), or cuts them in the middle of a server message.
/// </summary>
internal sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _sockets = [];
    private readonly Task _accepting;
    private volatile TaskCompletionSource _thawed = Thawed();
    private readonly List<Flow> _flows = [];
    private long _cutAfterServerBytes = -1;
    private int _accepted;

    public FaultProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        _accepting = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public ProxyAccept Accept { get; set; } = ProxyAccept.Forward;

    public TimeSpan RefuseAfter { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>With <see cref="ProxyAccept.Refuse"/>: no connection is refused before this completes either (logins held together).</summary>
    public Task RefuseWhen { get; set; } = Task.CompletedTask;

    /// <summary>Added before each chunk is passed on, either way.</summary>
    public TimeSpan Delay { get; set; }

    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Every connection, established or new, stops passing anything on (and closes nothing) until <see cref="Thaw"/>.</summary>
    public void Freeze() => _thawed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Only the connections established now go silent, for good: a server that stopped answering them; new ones pass.</summary>
    public void FreezeEstablished()
    {
        lock (_flows)
        {
            foreach (var flow in _flows)
            {
                flow.Frozen = true;
            }
        }
    }

    public void Thaw() => _thawed.TrySetResult();

    /// <summary>One forwarded connection.</summary>
    private sealed class Flow
    {
        public volatile bool Frozen;
    }

    /// <summary>After <paramref name="bytes"/> more bytes from the server, the connection carrying them is cut (both sides reset).</summary>
    public void CutAfterServerBytes(long bytes) => Interlocked.Exchange(ref _cutAfterServerBytes, bytes);

    private static TaskCompletionSource Thawed()
    {
        var thawed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        thawed.SetResult();
        return thawed;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            Track(client);
            _ = HandleAsync(client, Accept);
        }
    }

    private async Task HandleAsync(Socket client, ProxyAccept accept)
    {
        try
        {
            switch (accept)
            {
                case ProxyAccept.Refuse:
                    await Task.WhenAll(Task.Delay(RefuseAfter, _stop.Token), RefuseWhen.WaitAsync(_stop.Token));
                    client.Close();
                    return;
                case ProxyAccept.Blackhole:
                    return; // held open until disposed
            }

            var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
            Track(server);
            await server.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
            var flow = new Flow();
            lock (_flows)
            {
                _flows.Add(flow);
            }

            await Task.WhenAny(PumpAsync(client, server, flow, fromServer: false), PumpAsync(server, client, flow, fromServer: true));
            Reset(client);
            Reset(server);
        }
        catch (Exception)
        {
            Reset(client);
        }
    }

    private async Task PumpAsync(Socket from, Socket to, Flow flow, bool fromServer)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                await _thawed.Task.WaitAsync(_stop.Token);
                if (flow.Frozen)
                {
                    await Task.Delay(Timeout.Infinite, _stop.Token);
                }

                if (Delay > TimeSpan.Zero)
                {
                    await Task.Delay(Delay, _stop.Token);
                }

                var pass = read;
                var cut = false;
                if (fromServer && Interlocked.Read(ref _cutAfterServerBytes) is >= 0 and var left)
                {
                    pass = (int)Math.Min(read, left);
                    cut = pass < read;
                    Interlocked.Exchange(ref _cutAfterServerBytes, cut ? -1 : left - read);
                }

                await to.SendAsync(buffer.AsMemory(0, pass), SocketFlags.None, _stop.Token);
                if (cut)
                {
                    return; // the caller resets both sockets: a message cut off in its middle
                }
            }
        }
        catch (Exception)
        {
            // either side went away
        }
    }

    private void Track(Socket socket)
    {
        lock (_sockets)
        {
            _sockets.Add(socket);
        }
    }

    /// <summary>Closes with a reset, as a crashed host or a dropped route does.</summary>
    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (Exception)
        {
            // already closed
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Thaw();
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                Reset(socket);
            }
        }

        await _accepting;
        _stop.Dispose();
    }
}
