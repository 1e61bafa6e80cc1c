using System.Runtime.InteropServices;
using LoopOrder.Queues.Targets.Nbd;

namespace LoopOrder.Queues.Tests.Nbd;

/// <summary>One request's outcome: a completion target that a test can wait on.</summary>
internal sealed class Outcome : INbdCompletion
{
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);
    private readonly object _gate = new();
    private bool _done;
    private int _result;
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public bool IsDone
    {
        get
        {
            lock (_gate)
            {
                return _done;
            }
        }
    }

    public void Completed(object? state, int result)
    {
        lock (_gate)
        {
            _calls++;
            _result = result;
            _done = true;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Waits for the result and re-arms.</summary>
    public int Wait()
    {
        lock (_gate)
        {
            while (!_done)
            {
                if (!Monitor.Wait(_gate, HangLimit))
                {
                    throw new TimeoutException("no completion within " + HangLimit);
                }
            }

            _done = false;
            return _result;
        }
    }
}

/// <summary>Native, page-aligned buffers, as the engine's requests carry.</summary>
internal sealed unsafe class NbdBuffers : IDisposable
{
    private readonly List<nint> _buffers = [];

    public nint Allocate(int bytes)
    {
        nint p = (nint)NativeMemory.AlignedAlloc((nuint)bytes, 4096);
        NativeMemory.Clear((void*)p, (nuint)bytes);
        _buffers.Add(p);
        return p;
    }

    public static Span<byte> Span(nint p, int bytes) => new((void*)p, bytes);

    public static void Fill(nint p, int bytes, int seed)
    {
        Span<byte> s = Span(p, bytes);
        for (int i = 0; i < bytes; i++)
        {
            s[i] = (byte)((i * 31) + (seed * 7) + 1);
        }
    }

    public void Dispose()
    {
        foreach (nint p in _buffers)
        {
            NativeMemory.AlignedFree((void*)p);
        }
    }
}

internal static class NbdOps
{
    /// <summary>Submits one command and waits for its result.</summary>
    public static int Run(this NbdConnection c, NbdCommand command, long offset, int length, nint buffer, NbdCommandFlags flags = NbdCommandFlags.None)
    {
        var o = new Outcome();
        c.Submit(command, flags, offset, length, buffer, o, null);
        return o.Wait();
    }

    public static int Run(this NbdConnectionSet set, int connection, NbdCommand command, long offset, int length, nint buffer, NbdCommandFlags flags = NbdCommandFlags.None)
    {
        var o = new Outcome();
        set.Submit(connection, command, flags, offset, length, buffer, o, null);
        return o.Wait();
    }

    public static int FlushAll(this NbdConnectionSet set)
    {
        var o = new Outcome();
        set.Flush(o, null);
        return o.Wait();
    }
}
