using System.Diagnostics;
using LoopOrder.Interop;
using LoopOrder.Interop.Uring;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Requests;
using LoopOrder.Ublk.Control;
using LoopOrder.Ublk.Device;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Queue;
using Microsoft.Win32.SafeHandles;
using Xunit.Abstractions;

namespace LoopOrder.Ublk.Tests.Kernel;

/// <summary>
/// The transport against the real ublk_drv: run in the VM by tests/vm/e2e (suite test
/// "transport"). On a machine without /dev/ublk-control each test is reported as skipped.
/// </summary>
[Trait("Category", "Kernel")]
[Collection("ublk kernel")] // one device at a time: they share the kernel's device numbers
public sealed class KernelTests(ITestOutputHelper output)
{
    private const long Size = 32L << 20;

    [KernelFact]
    public void ReadsAndWritesGoThroughBothQueuesToTheEngine()
    {
        var backend = new MemoryBackend(Size);
        using BlockEngine engine = BlockEngine.Create(backend, new EngineOptions { OwnsBackend = false });
        byte[] seeded = Pattern(1 << 20, seed: 1);
        seeded.CopyTo(backend.Store.Bytes(8 << 20, seeded.Length));
        byte[] written = Pattern(1 << 20, seed: 2);
        UblkDevice device = UblkDevice.Create(new UblkDeviceOptions { SizeBytes = Size, Queues = 2, QueueDepth = 32 }, engine.Submit);
        try
        {
            Assert.Equal(2, device.Info.nr_hw_queues);
            Assert.True(device.Parameters.devt.disk_major != 0, "GET_PARAMS after START_DEV reports the disk's numbers");
            Assert.True(File.Exists(device.BlockDevicePath));

            // Read path: bytes put in the backend come back through the block device.
            Assert.Equal(seeded, ReadDevice(device.BlockDevicePath, 8 << 20, seeded.Length));

            // Write path: bytes written and fsynced land in the backend.
            using (SafeFileHandle h = File.OpenHandle(device.BlockDevicePath, FileMode.Open, FileAccess.ReadWrite))
            {
                RandomAccess.Write(h, written, 4096);
                RandomAccess.FlushToDisk(h);
            }

            Assert.Equal(written, backend.Store.Bytes(4096, written.Length).ToArray());
            Assert.True(device.QueueStatistics.Sum(q => q.Flushes) > 0, "fsync on the device sent a FLUSH (volatile cache advertised)");
        }
        finally
        {
            device.Dispose();
        }

        Assert.False(File.Exists(device.BlockDevicePath));
        Assert.False(File.Exists(device.CharDevicePath));
        Assert.True(engine.WaitForIdle(TimeSpan.FromSeconds(5)));
    }

    [KernelFact]
    public void AOneQueueDeviceServesWithoutAnIoScheduler()
    {
        // One hardware queue is where the kernel would put mq-deadline in front (and then
        // dispatch every request from a kblockd worker): the device must come up with none.
        var backend = new MemoryBackend(Size);
        using BlockEngine engine = BlockEngine.Create(backend, new EngineOptions { OwnsBackend = false });
        UblkDevice device = UblkDevice.Create(new UblkDeviceOptions { SizeBytes = Size, Queues = 1, QueueDepth = 32 }, engine.Submit);
        try
        {
            string schedulers = File.ReadAllText(BlockQueueSettings.SchedulerPath(device.BlockDevicePath)).Trim();
            output.WriteLine($"{device.BlockDevicePath}: {schedulers}");
            Assert.Contains("[none]", schedulers, StringComparison.Ordinal);
        }
        finally
        {
            device.Dispose();
        }

        Assert.True(engine.WaitForIdle(TimeSpan.FromSeconds(5)));
    }

    [KernelFact]
    public void ResultsAreCommittedAsGiven_InlineCompletionOnTheQueueThread()
    {
        // No engine: every request completes inside submit, on the queue thread itself. Reads at
        // or past 1 MiB fail with EIO; the rest read as 0xEE.
        const ulong badSector = (1 << 20) / 512;
        int submitterThreads = 0;
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        void Submit(BlockRequest r)
        {
            if (seen.TryAdd(Environment.CurrentManagedThreadId, true))
            {
                Interlocked.Increment(ref submitterThreads);
            }

            int result = r.Op switch
            {
                BlockOp.Read when r.StartSector + r.SectorCount > badSector => -5,
                BlockOp.Read => Fill(r, 0xEE),
                BlockOp.Write => r.ByteCount,
                _ => 0,
            };
            r.Completion.Complete(r, result);
        }

        UblkDevice device = UblkDevice.Create(new UblkDeviceOptions { SizeBytes = Size, Queues = 2, QueueDepth = 8 }, Submit);
        try
        {
            byte[] good = ReadDevice(device.BlockDevicePath, 0, 64 << 10);
            Assert.All(good, b => Assert.Equal(0xEE, b));
            var e = Assert.ThrowsAny<IOException>(() => ReadDevice(device.BlockDevicePath, 2 << 20, 4096));
            Assert.Contains("Input/output error", e.Message, StringComparison.Ordinal);
            Assert.True(device.QueueStatistics.Sum(q => q.Errors) > 0);
        }
        finally
        {
            device.Dispose();
        }
    }

    [KernelFact]
    public void BufferedWritesRunOnTheQueueThreadsOwnLanesAndLandInTheFile()
    {
        string dir = Directory.CreateTempSubdirectory("looporder-lanes").FullName;
        string path = Path.Combine(dir, "disk");
        using (FileStream f = new(path, FileMode.CreateNew))
        {
            f.SetLength(Size);
        }

        using BlockEngine engine = BlockEngine.Create(new FileBackend(new FileBackendOptions { Path = path }));
        var lanes = new System.Collections.Concurrent.ConcurrentBag<ThreadLane>();
        var options = new UblkDeviceOptions
        {
            SizeBytes = Size,
            Queues = 2,
            QueueDepth = 16,
            QueueThreadInit = () =>
            {
                var lane = new ThreadLane(engine.AttachSubmitter() as LoopOrder.Queues.Dispatch.SubmitterLane);
                lanes.Add(lane);
                return lane;
            },
        };
        byte[] written = Pattern(1 << 20, seed: 3);
        UblkDevice device = UblkDevice.Create(options, engine.Submit);
        try
        {
            // fsync writes the device's page cache back, then flushes: every write reaches the server.
            using (SafeFileHandle h = File.OpenHandle(device.BlockDevicePath, FileMode.Open, FileAccess.ReadWrite))
            {
                RandomAccess.Write(h, written, 1 << 20);
                RandomAccess.FlushToDisk(h);
            }

            // Both queue threads are marked as part of the I/O path, as the loop driver's workers are.
            string prefix = $"ublk{device.Info.dev_id}-q";
            int[] flags = [.. QueueThreadFlags(prefix)];
            Assert.Equal(2, flags.Length);
            Assert.All(flags, f => Assert.Equal(PfMemallocNoio | PfLocalThrottle, f & (PfMemallocNoio | PfLocalThrottle)));

            // Each queue's ring has the task-work mode chosen for this kernel (DEFER_TASKRUN from
            // 7.1, COOP_TASKRUN on 6.12, see QueueRingSetup), and the writes above were served
            // through such rings.
            IoUringSetupFlags chosen = QueueRingSetup.Flags(QueueRingSetup.ForThisKernel());
            Assert.Equal(2, device.QueueRingFlags.Count);
            Assert.All(device.QueueRingFlags, f => Assert.Equal(chosen, f & (IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.DeferTaskrun | IoUringSetupFlags.CoopTaskrun)));
        }
        finally
        {
            device.Dispose();
        }

        Assert.True(engine.Shutdown(TimeSpan.FromSeconds(30)));
        Assert.Equal(2, lanes.Count);
        Assert.All(lanes, l => Assert.NotNull(l.Lane));
        Assert.True(lanes.Sum(l => l.Lane!.Writes) > 0, "no write ran on a queue thread's lane");
        Assert.All(lanes, l => Assert.Equal(l.MadeOn, l.DisposedOn));
        Assert.All(lanes, l => Assert.NotEqual(Environment.CurrentManagedThreadId, l.MadeOn));
        byte[] file = new byte[written.Length];
        using (SafeFileHandle h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            RandomAccess.Read(h, file, 1 << 20);
        }

        Assert.Equal(written, file);
        Directory.Delete(dir, recursive: true);
    }

    [KernelFact]
    public void SteadyStateIoAllocatesNothing()
    {
        // Inline completion, so only the transport runs between the kernel and the reader; the
        // reader uses O_DIRECT (no page cache) and one aligned buffer, so it allocates nothing.
        UblkDevice device = UblkDevice.Create(
            new UblkDeviceOptions { SizeBytes = Size, Queues = 2, QueueDepth = 8 },
            r => r.Completion.Complete(r, r.Op == BlockOp.Read ? Fill(r, 0x5A) : r.Op == BlockOp.Write ? r.ByteCount : 0));
        try
        {
            using LoopOrder.Interop.SafeFileDescriptor fd = LoopOrder.Interop.FileDescriptor.Open(
                device.BlockDevicePath,
                LoopOrder.Interop.OpenFlags.ReadOnly | LoopOrder.Interop.OpenFlags.Direct);
            using var buffer = new LoopOrder.Interop.AlignedBuffer(4096);
            const int reads = 2000;
            for (int i = 0; i < 200; i++)
            {
                LoopOrder.Interop.FileDescriptor.PRead(fd, buffer.Span, (i % 1000) * 4096L);
            }

            // Each side counts its own thread only: the runtime's and the test host's threads
            // allocate meanwhile, and they are not the I/O path. The queue threads are idle here
            // (asleep in their rings), so their counts are current.
            Thread.Sleep(100);
            long queuesBefore = device.QueueThreadAllocatedBytes;
            long readerBefore = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < reads; i++)
            {
                LoopOrder.Interop.FileDescriptor.PRead(fd, buffer.Span, (i % 1000) * 4096L);
            }

            long reader = GC.GetAllocatedBytesForCurrentThread() - readerBefore;
            Thread.Sleep(100);
            long queues = device.QueueThreadAllocatedBytes - queuesBefore;
            output.WriteLine($"allocated over {reads} reads: queue threads {queues} bytes, reader {reader} bytes");
            Assert.Equal(0x5A, buffer.Span[4095]);
            Assert.Equal(0, reader);
            Assert.True(queues == 0, $"the queue threads allocated {queues} bytes over {reads} reads");
            Assert.True(device.QueueStatistics.Sum(q => q.Reads) >= reads);
        }
        finally
        {
            device.Dispose();
        }
    }

    [KernelFact]
    public void ARecoveringServerTakesOverAnAbandonedDeviceAndGetsItsQueuedRequests()
    {
        var backend = new MemoryBackend(Size);
        using BlockEngine engine = BlockEngine.Create(backend, new EngineOptions { OwnsBackend = false });
        UblkDeviceOptions options = RecoverableOptions();
        (uint id, string path) = CreateAndAbandon(options, engine);
        using (UblkControl control = UblkControl.Open())
        {
            // The kernel quiesces the device once every fetch of the dead server is cancelled.
            var clock = Stopwatch.StartNew();
            while ((UblkDeviceState)control.GetDeviceInfo(id).state != UblkDeviceState.Quiesced)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the abandoned device never quiesced");
                Thread.Sleep(20);
            }
        }

        Assert.True(File.Exists(path), "a USER_RECOVERY device keeps its disk while no server runs");

        // I/O issued while no server runs waits (queued by the kernel) instead of failing.
        byte[] seeded = Pattern(256 << 10, seed: 3);
        seeded.CopyTo(backend.Store.Bytes(16 << 20, seeded.Length));
        byte[]? read = null;
        Exception? failure = null;
        using var done = new ManualResetEventSlim(false);
        var reader = new Thread(() =>
        {
            try
            {
                read = ReadDevice(path, 16 << 20, seeded.Length);
            }
            catch (IOException e)
            {
                failure = e;
            }
            finally
            {
                done.Set();
            }
        })
        { IsBackground = true };
        reader.Start();
        Assert.False(done.Wait(TimeSpan.FromMilliseconds(500)), "a read completed while no server ran");

        UblkDevice second = UblkDevice.Recover(id, options, engine.Submit);
        try
        {
            Assert.Equal(id, second.Id);
            Assert.Equal(UblkDeviceState.Live, (UblkDeviceState)second.Info.state);
            Assert.True(done.Wait(TimeSpan.FromSeconds(30)), "the queued read did not complete after recovery");
            Assert.Null(failure);
            Assert.Equal(seeded, read);
        }
        finally
        {
            second.Dispose();
        }

        Assert.False(File.Exists(path));
    }

    [KernelFact]
    public void ARecoveryWhoseServerDiedAfterStartUserRecoveryIsTakenOverByTheNext()
    {
        var backend = new MemoryBackend(Size);
        using BlockEngine engine = BlockEngine.Create(backend, new EngineOptions { OwnsBackend = false });
        UblkDeviceOptions options = RecoverableOptions();
        (uint id, string path) = CreateAndAbandon(options, engine);
        using (UblkControl control = UblkControl.Open())
        {
            // A recovering server that got as far as START_USER_RECOVERY and died before opening
            // /dev/ublkcN. On 6.12 the driver has reset the queues and counts none ready, so the
            // next START_USER_RECOVERY fails with EINVAL; from 6.15 the reset happens when the
            // char device is released, and a second START_USER_RECOVERY succeeds. Either way the
            // next server must take the device over.
            var clock = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    control.StartUserRecovery(id);
                    break;
                }
                catch (ErrnoException e) when (e.Errno == Errno.EBUSY && clock.Elapsed < TimeSpan.FromSeconds(10))
                {
                    Thread.Sleep(20);
                }
            }

            try
            {
                control.StartUserRecovery(id);
            }
            catch (ErrnoException again)
            {
                Assert.Equal(Errno.EINVAL, again.Errno);
            }

            Assert.True(UblkDevice.RecoveryInterrupted(control.GetDeviceInfo(id)));
        }

        UblkDevice second = UblkDevice.Recover(id, options, engine.Submit);
        try
        {
            Assert.Equal(UblkDeviceState.Live, (UblkDeviceState)second.Info.state);
            byte[] seeded = Pattern(64 << 10, seed: 5);
            seeded.CopyTo(backend.Store.Bytes(8 << 20, seeded.Length));
            Assert.Equal(seeded, ReadDevice(path, 8 << 20, seeded.Length));
        }
        finally
        {
            second.Dispose();
        }

        Assert.False(File.Exists(path));
    }

    /// <summary>Two queues of 16 tags with USER_RECOVERY: the device the recovery tests kill a server of.</summary>
    private static UblkDeviceOptions RecoverableOptions() => new() { SizeBytes = Size, Queues = 2, QueueDepth = 16, UserRecovery = true };

    /// <summary>
    /// Serves a USER_RECOVERY device through <paramref name="engine"/>, checks the kernel granted
    /// recovery with reissue, and abandons it as a killed server would (queues gone, nothing
    /// deleted). Returns its id and block device path.
    /// </summary>
    private static (uint Id, string Path) CreateAndAbandon(UblkDeviceOptions options, BlockEngine engine)
    {
        UblkDevice first = UblkDevice.Create(options, engine.Submit);
        const UblkFeatures recovery = UblkFeatures.UserRecovery | UblkFeatures.UserRecoveryReissue;
        Assert.Equal(recovery, first.Features & recovery);
        first.Abandon();
        return (first.Id, first.BlockDevicePath);
    }

    /// <summary>include/linux/sched.h: what PR_SET_IO_FLUSHER sets on a task.</summary>
    private const int PfMemallocNoio = 0x00080000;

    /// <summary>See <see cref="PfMemallocNoio"/>.</summary>
    private const int PfLocalThrottle = 0x00100000;

    /// <summary>The task flags (field 9 of /proc/self/task/TID/stat) of this process's threads whose name starts with <paramref name="prefix"/>.</summary>
    private static IEnumerable<int> QueueThreadFlags(string prefix)
    {
        foreach (string task in Directory.GetDirectories("/proc/self/task"))
        {
            if (!File.ReadAllText(Path.Combine(task, "comm")).StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            // The name (field 2) may hold spaces: count from the state field after its ')'.
            string stat = File.ReadAllText(Path.Combine(task, "stat"));
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            yield return (int)uint.Parse(fields[6], System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>A queue thread's lane as the test sees it: made and disposed on which thread.</summary>
    private sealed class ThreadLane(LoopOrder.Queues.Dispatch.SubmitterLane? lane) : IDisposable
    {
        public LoopOrder.Queues.Dispatch.SubmitterLane? Lane => lane;

        public int MadeOn { get; } = Environment.CurrentManagedThreadId;

        public int DisposedOn { get; private set; } = -1;

        public void Dispose()
        {
            DisposedOn = Environment.CurrentManagedThreadId;
            lane?.Dispose();
        }
    }

    private static int Fill(BlockRequest r, byte value)
    {
        unsafe
        {
            new Span<byte>((void*)r.Buffer.Address, r.ByteCount).Fill(value);
        }

        return r.ByteCount;
    }

    private static byte[] ReadDevice(string path, long offset, int length)
    {
        using SafeFileHandle h = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        byte[] buffer = new byte[length];
        int done = 0;
        while (done < length)
        {
            int n = RandomAccess.Read(h, buffer.AsSpan(done), offset + done);
            if (n == 0)
            {
                throw new EndOfStreamException();
            }

            done += n;
        }

        return buffer;
    }

    private static byte[] Pattern(int length, int seed)
    {
        byte[] b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }
}
