namespace LoopOrder.Ublk.Queue;

/// <summary>Where a <see cref="UblkQueue"/> sits and how big it is.</summary>
internal sealed class UblkQueueOptions
{
    /// <summary>The device number N of /dev/ublkcN.</summary>
    public required uint DeviceId { get; init; }

    /// <summary>The queue number.</summary>
    public required int QueueId { get; init; }

    /// <summary>Tags in the queue (the negotiated queue_depth).</summary>
    public required int Depth { get; init; }

    /// <summary>Bytes per tag buffer: the negotiated max_io_buf_bytes, a whole number of pages.</summary>
    public required int BufferBytes { get; init; }

    /// <summary>The CPUs the block layer maps to this queue (GET_QUEUE_AFFINITY); the thread is pinned to them.</summary>
    public int[] Cpus { get; init; } = [];

    /// <summary>The NUMA node (dispatcher socket index) of <see cref="Cpus"/>: every request of the queue goes to that socket's workers.</summary>
    public int Node { get; init; }

    /// <summary>Pin the thread to <see cref="Cpus"/>.</summary>
    public bool Pin { get; init; } = true;

    /// <summary>See <see cref="Device.UblkDeviceOptions.QueueThreadInit"/>.</summary>
    public Func<IDisposable?>? ThreadInit { get; init; }

    /// <summary>
    /// The device has UBLK_F_AUTO_BUF_REG: requests carry no data in the tag buffers; the kernel
    /// registers each one's pages in this queue's ring, in the slot named by its tag.
    /// </summary>
    public bool ZeroCopy { get; init; }

    /// <summary>
    /// The device has UBLK_F_BATCH_IO: the queue arms its tags with one PREP_IO_CMDS, learns of
    /// requests from multishot FETCH_IO_CMDS and completes them with one COMMIT_IO_CMDS a round.
    /// </summary>
    public bool BatchIo { get; init; }
}
