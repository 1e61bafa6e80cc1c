namespace LoopOrder.Interop.Tests;

/// <summary>PR_SET_IO_FLUSHER is a per-thread flag: set on one thread, seen there and nowhere else.</summary>
public sealed class IoFlusherTests
{
    [Fact]
    public void The_flag_is_set_on_the_calling_thread_only_or_the_refusal_is_an_errno()
    {
        Errno errno = (Errno)(-1);
        bool setHere = false;
        bool setOnOther = true;

        // Dedicated threads: the flag must not stay on a test runner's pooled thread.
        var marker = new Thread(() =>
        {
            errno = IoFlusher.TrySetCurrentThread();
            setHere = IoFlusher.IsSetOnCurrentThread();
        });
        marker.Start();
        marker.Join();
        var other = new Thread(() => setOnOther = IoFlusher.IsSetOnCurrentThread());
        other.Start();
        other.Join();

        Assert.False(setOnOther);
        if (HasCapSysResource())
        {
            // Every kernel this project runs on has the prctl (5.6+).
            Assert.Equal(Errno.None, errno);
            Assert.True(setHere);
        }
        else
        {
            Assert.Equal(Errno.EPERM, errno);
            Assert.False(setHere);
        }
    }

    /// <summary>
    /// CAP_SYS_RESOURCE (bit 24) in the effective set: root usually has it, but a container or
    /// sandbox may drop it (this project's build machine does).
    /// </summary>
    private static bool HasCapSysResource()
    {
        const int CapSysResource = 24;
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("CapEff:", StringComparison.Ordinal));
        ulong caps = ulong.Parse(line["CapEff:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
        return (caps & (1UL << CapSysResource)) != 0;
    }
}
