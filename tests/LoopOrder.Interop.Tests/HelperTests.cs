namespace LoopOrder.Interop.Tests;

public class HelperTests
{
    [Fact]
    public void Errno_exception_message_names_operation_path_text_and_symbol()
    {
        ErrnoException e = ErrnoException.FromErrno(Errno.EACCES, "open", "/x");
        Assert.Equal("open /x: Permission denied (EACCES)", e.Message);
        Assert.Equal(Errno.EACCES, e.Errno);

        ErrnoException noPath = ErrnoException.FromErrno(Errno.ENOSPC, "fallocate", null, "backing file full");
        Assert.Equal("fallocate: No space left on device (ENOSPC): backing file full", noPath.Message);
        Assert.Null(noPath.Path);

        Assert.Equal("errno 4095", ((Errno)4095).Name());
        Assert.Equal("EAGAIN", Errno.EWOULDBLOCK.Name());
        Assert.Equal("EOPNOTSUPP", Errno.ENOTSUP.Name());
        Assert.Equal("EIO", Errno.EIO.Name());
        Assert.Equal(-5, Errno.EIO.ToResult());
        Assert.Equal(Errno.EIO, ErrnoExtensions.ErrnoOf(-5));
        Assert.Equal(Errno.None, ErrnoExtensions.ErrnoOf(4096));
        Assert.Equal("ENOSPC", ErrnoExtensions.DescribeResult(-28));
        Assert.Equal("4096", ErrnoExtensions.DescribeResult(4096));
    }

    [Fact]
    public void Aligned_buffer_is_aligned_zeroed_and_checks_alignment()
    {
        using var buffer = new AlignedBuffer(3 * 4096 + 17);
        unsafe
        {
            Assert.Equal(0, (long)buffer.Pointer % 4096);
        }

        Assert.Equal((nuint)(3 * 4096 + 17), buffer.Length);
        Assert.True(buffer.Span.IndexOfAnyExcept((byte)0) < 0);
        buffer.Span.Fill(7);
        buffer.Clear();
        Assert.True(buffer.Span.IndexOfAnyExcept((byte)0) < 0);

        using var wide = new AlignedBuffer(64, 1 << 16);
        unsafe
        {
            Assert.Equal(0, (long)wide.Pointer % (1 << 16));
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => new AlignedBuffer(64, 3000));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AlignedBuffer(0));
    }

    [Fact]
    public void Eventfd_signals_accumulate_and_read_resets()
    {
        using var wake = new EventFd();
        Assert.True(wake.IsNonBlocking);
        Assert.False(wake.TryRead(out ulong none));
        Assert.Equal(0ul, none);
        wake.Signal(2);
        wake.Signal(3);
        Assert.True(wake.TryRead(out ulong value));
        Assert.Equal(5ul, value);
        Assert.False(wake.TryRead(out _));
    }

    [Fact]
    public void Eventfd_signal_from_another_thread_is_seen()
    {
        using var wake = new EventFd(nonBlocking: false);
        var t = new Thread(() => wake.Signal(9));
        t.Start();
        t.Join();
        Assert.True(wake.TryRead(out ulong value)); // blocking read: returns once the signal is there
        Assert.Equal(9ul, value);
    }

    [Fact]
    public void Affinity_set_and_get_round_trip_on_cpu_0()
    {
        int[]? original = null;
        int[]? pinned = null;
        int cpuWhilePinned = -1;
        Exception? failure = null;

        // A dedicated thread, so the test runner's threads never stay pinned.
        var t = new Thread(() =>
        {
            try
            {
                original = CpuAffinity.GetCurrentThreadAffinity();
                CpuAffinity.SetCurrentThread([0]);
                pinned = CpuAffinity.GetCurrentThreadAffinity();
                cpuWhilePinned = CpuAffinity.GetCurrentCpu();
                CpuAffinity.SetCurrentThread(original);
                Assert.Equal(original, CpuAffinity.GetCurrentThreadAffinity());
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        t.Start();
        t.Join();

        Assert.Null(failure);
        Assert.NotNull(original);
        Assert.Contains(0, original!);
        Assert.Equal([0], pinned!);
        Assert.Equal(0, cpuWhilePinned);
        Assert.Throws<ArgumentException>(() => CpuAffinity.SetCurrentThread([]));
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuAffinity.SetCurrentThread([-1]));
    }

    [Fact]
    public void Affinity_to_a_cpu_that_does_not_exist_throws_einval()
    {
        Exception? failure = null;
        var t = new Thread(() =>
        {
            try
            {
                ErrnoException e = Assert.Throws<ErrnoException>(() => CpuAffinity.SetCurrentThread([8000]));
                Assert.Equal(Errno.EINVAL, e.Errno);
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        t.Start();
        t.Join();
        Assert.Null(failure);
    }
}
