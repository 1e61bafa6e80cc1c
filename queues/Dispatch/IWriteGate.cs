using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Dispatch;

/// <summary>
/// Something that must be durable before a write may reach the backend: a changed-block tracker's
/// mark (Tracking/ChangeTracker), a copy-on-write snapshot's copy of the old contents
/// (Snapshots/CopyOnWrite). A <see cref="GatedDispatcher"/> asks it about every request.
/// </summary>
public interface IWriteGate : IDisposable
{
    /// <summary>1: dispatch <paramref name="request"/> now; 0: held, the sink gets it later; negative: it fails with that errno. Any thread; never blocks on I/O.</summary>
    int Admit(BlockRequest request);

    /// <summary>Connects the dispatcher that releases and fails held writes; once, before the first write.</summary>
    void Attach(IGateSink sink);
}
