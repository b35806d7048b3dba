using System.Buffers;
using System.Runtime.InteropServices;
using CsCheck;
using PgBouncerActors.Net;
using PgBouncerActors.Tests.Shared;
using Xunit;

namespace PgBouncerActors.Tests.Net;

/// <summary>
/// The client receive buffers: a buffer given back serves the next request instead of a new one,
/// never two owners at once, and what sits unused through a trim period goes back to the GC.
/// </summary>
public sealed class ReceiveBufferPoolSpec
{
    [Fact]
    public void The_buffer_given_back_last_is_the_next_one_rented_and_no_new_one_is_made()
    {
        using var pool = new ReceiveBufferPool(Timeout.InfiniteTimeSpan);
        var first = pool.Rent();
        var second = pool.Rent();
        var secondArray = ArrayOf(second);
        first.Dispose();
        second.Dispose();

        var again = pool.Rent();

        Assert.Same(secondArray, ArrayOf(again)); // the warmest one, still in the CPU's cache
        Assert.Equal(2, pool.Created);
        Assert.Equal(1, pool.FreeCount);
    }

    [Fact]
    public void A_buffer_disposed_twice_is_given_back_once_so_two_later_rents_never_share_it()
    {
        using var pool = new ReceiveBufferPool(Timeout.InfiniteTimeSpan);
        var owner = pool.Rent();
        owner.Dispose();
        owner.Dispose();

        var (a, b) = (pool.Rent(), pool.Rent());

        Assert.NotSame(ArrayOf(a), ArrayOf(b));
        Assert.Equal(ReceiveBufferPool.BlockSize, a.Memory.Length);
    }

    [Fact]
    public void A_trim_gives_back_half_of_what_sat_unused_since_the_last_trim_and_keeps_what_was_in_use()
    {
        using var pool = new ReceiveBufferPool(Timeout.InfiniteTimeSpan);
        var rented = Enumerable.Range(0, 8).Select(_ => pool.Rent()).ToList();
        rented.ForEach(owner => owner.Dispose());
        pool.Trim(); // the burst just ended: every one of them was out since the last trim
        Assert.Equal(8, pool.FreeCount);

        pool.Trim(); // a whole period unused: half go back
        Assert.Equal(4, pool.FreeCount);
        var inUse = pool.Rent(); // three stay free all period, one is used
        inUse.Dispose();
        pool.Trim();
        Assert.Equal(2, pool.FreeCount); // half of the three that never moved (rounded up) go: 4 - 2
        pool.Trim();
        pool.Trim();
        Assert.Equal(0, pool.FreeCount); // idle long enough, nothing is kept
    }

    [Fact]
    public void A_buffer_larger_than_the_block_size_is_refused()
    {
        using var pool = new ReceiveBufferPool(Timeout.InfiniteTimeSpan);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(ReceiveBufferPool.BlockSize + 1));
    }

    /// <summary>
    /// Clients rent and give back on many threads while the trimmer runs: every outcome is one a
    /// sequential pool gives (how many buffers are free, how many were ever made) and no buffer is
    /// ever held by two clients at once.
    /// </summary>
    [Theory]
    [MemberData(nameof(PropertySeeds.Both), MemberType = typeof(PropertySeeds))]
    public void Every_interleaving_of_rents_returns_and_trims_is_one_a_sequential_pool_gives(string seed)
    {
        var holder = Gen.Int[0, Holders - 1];
        Gen.Int[0, 3].Select(free => (new Actual(free), new Model(free)))
            .SampleParallel(
            [
                holder.Operation<Actual, Model>(i => $"Rent({i})", (actual, i) => actual.Rent(i), (model, i) => model.Rent(i)),
                holder.Operation<Actual, Model>(i => $"Return({i})", (actual, i) => actual.Return(i), (model, i) => model.Return(i)),
                Gen.Operation<Actual, Model>("Trim()", actual => actual.Trim(), model => model.Trim()),
            ],
            equal: (actual, model) => actual.Describe() == model.Describe(),
            seed: PropertySeeds.For(seed), iter: 2000, threads: Environment.ProcessorCount,
            printActual: actual => actual.Describe(), printModel: model => model.Describe());
    }

    private const int Holders = 4;

    private static byte[] ArrayOf(IMemoryOwner<byte> owner) =>
        MemoryMarshal.TryGetArray<byte>(owner.Memory, out var segment) ? segment.Array! : throw new InvalidOperationException("not an array");

    /// <summary>A real pool; each holder (a client) holds one buffer at most, and only its own thread touches its slot.</summary>
    private sealed class Actual
    {
        private readonly ReceiveBufferPool _pool = new(Timeout.InfiniteTimeSpan);
        private readonly IMemoryOwner<byte>?[] _held = new IMemoryOwner<byte>?[Holders];
        private readonly Lock[] _holders = [.. Enumerable.Range(0, Holders).Select(_ => new Lock())];

        public Actual(int free)
        {
            var made = Enumerable.Range(0, free).Select(_ => _pool.Rent()).ToList();
            made.ForEach(owner => owner.Dispose());
        }

        public void Rent(int i)
        {
            lock (_holders[i])
            {
                _held[i] ??= _pool.Rent();
            }
        }

        public void Return(int i)
        {
            lock (_holders[i])
            {
                _held[i]?.Dispose();
                _held[i]?.Dispose(); // a second dispose changes nothing
                _held[i] = null;
            }
        }

        public void Trim() => _pool.Trim();

        public string Describe()
        {
            var held = _held.Where(owner => owner is not null).Select(owner => ArrayOf(owner!)).ToList();
            var shared = held.Distinct(ReferenceEqualityComparer.Instance).Count() != held.Count;
            return $"free {_pool.FreeCount}, made {_pool.Created}, held [{string.Join(",", _held.Select(owner => owner is null ? "-" : "x"))}]" +
                   (shared ? ", one buffer held twice" : "");
        }
    }

    /// <summary>The pool as one sequence of steps: a stack of free buffers and the fewest free since the last trim.</summary>
    private sealed class Model(int free)
    {
        private readonly bool[] _held = new bool[Holders];
        private int _free = free;
        private int _made = free;
        private int _lowWater;

        public void Rent(int i)
        {
            if (_held[i])
            {
                return;
            }

            _held[i] = true;
            if (_free > 0)
            {
                _free--;
                _lowWater = Math.Min(_lowWater, _free);
            }
            else
            {
                _lowWater = 0;
                _made++;
            }
        }

        public void Return(int i)
        {
            if (_held[i])
            {
                _held[i] = false;
                _free++;
            }
        }

        public void Trim()
        {
            _free -= Math.Min((_lowWater + 1) / 2, _free);
            _lowWater = _free;
        }

        public string Describe() => $"free {_free}, made {_made}, held [{string.Join(",", _held.Select(held => held ? "x" : "-"))}]";
    }
}
