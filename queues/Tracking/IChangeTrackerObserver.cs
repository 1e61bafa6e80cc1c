namespace LoopOrder.Queues.Tracking;

/// <summary>Sees each region's bit become durable (the checker's recorder). Called under the tracker's lock: be quick, do not call back.</summary>
public interface IChangeTrackerObserver
{
    /// <summary>Region <paramref name="region"/>'s bit is durable in the metadata file, in generation <paramref name="generation"/>; no write held for it has been dispatched yet.</summary>
    void Marked(ulong generation, long region);
}
