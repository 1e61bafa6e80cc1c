namespace LoopOrder.Queues.Requests;

/// <summary>Where a request is in the engine; transitions only under the Sequencer's lock.</summary>
internal enum RequestState : byte
{
    /// <summary>Prepared, not submitted.</summary>
    Idle,

    /// <summary>Received, waiting for overlapping writes, a strict hold, or (flushes) earlier writes.</summary>
    Waiting,

    /// <summary>Handed to a worker; the backend is doing it.</summary>
    Running,

    /// <summary>A flush covered by the sync in flight (carried by another flush request).</summary>
    Syncing,

    /// <summary>A flush whose own sync ended; its group waits for the syncs started before it to end, then is acknowledged.</summary>
    Synced,

    /// <summary>Acknowledged.</summary>
    Done,
}
