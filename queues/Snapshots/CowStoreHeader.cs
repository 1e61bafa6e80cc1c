namespace LoopOrder.Queues.Snapshots;

/// <summary>What a <see cref="CowStore"/>'s header says.</summary>
/// <param name="Name">The snapshot's name (so a store found through the index names itself after a reboot).</param>
/// <param name="ChunkSize">Bytes a record preserves: the copy-on-write granularity, a power of two.</param>
/// <param name="DeviceBytes">The device's size at the snapshot: the snapshot's size.</param>
/// <param name="Barrier">The barrier's place in the receive order (for the logs and the records).</param>
/// <param name="Created">When it was cut.</param>
/// <param name="Invalid">True once the store failed to keep a chunk (out of space, an I/O error): it is no snapshot any more.</param>
public readonly record struct CowStoreHeader(string Name, int ChunkSize, long DeviceBytes, long Barrier, DateTimeOffset Created, bool Invalid = false);
