using System.Buffers;

namespace PgBouncerActors.Net;

/// <summary>
/// The receive buffers of client connections. A client rents one when bytes arrive (its pipe
/// reads with a zero-byte receive first, so an idle client holds none) and returns it once the
/// request is consumed; a client queued for a server connection holds its request, and so its
/// buffer, while it waits. With 1000 clients over a pool of 20 that is nearly a thousand buffers
/// out at once: far past what <see cref="ArrayPool{T}.Shared"/> keeps per core, so every request
/// allocated a new 16 KB array (8 KB of garbage per transaction on average, gen1 and gen2
/// collections several times a second). This pool keeps what is returned, so the busiest
/// moment's buffers serve the next one, and gives back to the GC what sat unused for a whole
/// trim period (half of it per period), so the memory of a burst does not stay forever. One per
/// pooler (<see cref="Hosting.PoolerServices.ClientReceiveBuffers"/>).
/// </summary>
internal sealed class ReceiveBufferPool : MemoryPool<byte>
{
    /// <summary>The size of every buffer: what <see cref="PgSocket"/>'s pipes read into at most at once.</summary>
    public const int BlockSize = 16 * 1024;

    private readonly Lock _lock = new();
    private readonly Timer? _trimmer;

    /// <summary>Free buffers, a stack: the one returned last goes out first, still in the CPU's cache.</summary>
    private Block[] _free = new Block[64];

    private int _freeCount;

    /// <summary>The fewest buffers free at any moment since the last trim: that many sat unused all along.</summary>
    private int _lowWater;

    private long _created;

    /// <summary>Buffers given back to the GC by <see cref="Trim"/>.</summary>
    private long _trimmed;

    /// <param name="trimPeriod">How often unused buffers are given back; infinite: only when <see cref="Trim"/> is called (specs).</param>
    public ReceiveBufferPool(TimeSpan trimPeriod)
    {
        if (trimPeriod != Timeout.InfiniteTimeSpan)
        {
            // The timer holds the pool weakly: a pool nobody uses any more (a pooler stopped inside
            // a longer-lived process, the specs) is collected with its buffers, and its timer with it.
            _trimmer = new Timer(static state =>
            {
                if (((WeakReference<ReceiveBufferPool>)state!).TryGetTarget(out var pool))
                {
                    pool.Trim();
                }
            }, new WeakReference<ReceiveBufferPool>(this), trimPeriod, trimPeriod);
        }
    }

    public override int MaxBufferSize => BlockSize;

    /// <summary>Buffers kept for the next rent.</summary>
    public int FreeCount => Volatile.Read(ref _freeCount);

    /// <summary>Buffers ever made by this pool; what the GC has taken back is not subtracted.</summary>
    public long Created => Interlocked.Read(ref _created);

    /// <summary>Buffers rented and not given back: a client's request in hand (none once every client has left).</summary>
    public long InUse => Counts().InUse;

    /// <summary>Buffers in use and free, read in one step (SHOW MEM).</summary>
    public (long InUse, int Free) Counts()
    {
        lock (_lock)
        {
            return (Interlocked.Read(ref _created) - _trimmed - _freeCount, _freeCount);
        }
    }

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > BlockSize)
        {
            throw new ArgumentOutOfRangeException(nameof(minBufferSize), minBufferSize, $"at most {BlockSize} bytes per buffer");
        }

        Block? block = null;
        lock (_lock)
        {
            if (_freeCount > 0)
            {
                block = _free[--_freeCount];
                _free[_freeCount] = null!;
                _lowWater = Math.Min(_lowWater, _freeCount);
            }
            else
            {
                _lowWater = 0;
            }
        }

        if (block is null)
        {
            Interlocked.Increment(ref _created);
            // Not pinned: a buffer a session never gave back (it ended in the middle of a message) is
            // then ordinary garbage for the next gen0 collection, not a hole in the pinned heap until a gen2.
            block = new Block(this, GC.AllocateUninitializedArray<byte>(BlockSize));
        }

        block.Rented = 1;
        return block;
    }

    private void Return(Block block)
    {
        lock (_lock)
        {
            if (_freeCount == _free.Length)
            {
                Array.Resize(ref _free, _free.Length * 2);
            }

            _free[_freeCount++] = block;
        }
    }

    /// <summary>Gives half of the buffers that were never rented since the last trim back to the GC (the ones at the bottom of the stack: the coldest).</summary>
    public void Trim()
    {
        lock (_lock)
        {
            var release = Math.Min((_lowWater + 1) / 2, _freeCount);
            Array.Copy(_free, release, _free, 0, _freeCount - release);
            Array.Clear(_free, _freeCount - release, release);
            _freeCount -= release;
            _trimmed += release;
            _lowWater = _freeCount;
        }
    }

    protected override void Dispose(bool disposing) => _trimmer?.Dispose();

    private sealed class Block(ReceiveBufferPool pool, byte[] array) : IMemoryOwner<byte>
    {
        /// <summary>1 while rented: a second Dispose must not put one buffer in two owners' hands.</summary>
        public int Rented;

        public Memory<byte> Memory => array;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref Rented, 0) == 1)
            {
                pool.Return(this);
            }
        }
    }
}
