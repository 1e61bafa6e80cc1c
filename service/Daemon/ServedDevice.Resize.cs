using System.Globalization;
using LoopOrder.Queues.Backends;
using LoopOrder.Ublk.Control;
using LoopOrder.Ublk.Protocol;

namespace LoopOrder.Service.Daemon;

/// <summary>
/// loop-order resize: the storage (a file, an RBD image), the engine's bounds and the kernel
/// device, in the order that never exposes an unbacked sector; and a device following its RBD
/// image when something else resized it.
/// </summary>
public sealed partial class ServedDevice
{
    /// <summary>The storage's size when last looked at (<see cref="FollowStorage"/>), to tell whether the device served all of it.</summary>
    private long _storageSeen = -1;

    /// <summary>
    /// Sets the device and its storage to <paramref name="sizeBytes"/>. Growing: the storage, then
    /// the engine's bounds, then UPDATE_SIZE (a failure puts the first two back). Shrinking:
    /// UPDATE_SIZE, then the bounds, then the storage. Throws a <see cref="ServiceException"/> (bad size, 64), or
    /// <see cref="UblkFeatureUnavailableException"/> (no UPDATE_SIZE, 69), with nothing changed.
    /// </summary>
    /// <param name="sizeBytes">The new size.</param>
    /// <param name="allowShrink">Allow a size below the current one.</param>
    public void Resize(long sizeBytes, bool allowShrink)
    {
        long current = Backend.Length / Options.BlockSize * Options.BlockSize;
        if (sizeBytes % Options.BlockSize != 0)
        {
            throw new ServiceException(
                ExitCodes.Usage,
                string.Create(CultureInfo.InvariantCulture, $"{sizeBytes} bytes is not a whole number of {Options.BlockSize}-byte blocks; device {Id} stays {current} bytes."));
        }

        if (sizeBytes < current && !allowShrink)
        {
            throw new ServiceException(
                ExitCodes.Usage,
                string.Create(CultureInfo.InvariantCulture, $"{sizeBytes} bytes is smaller than device {Id} ({current} bytes): everything past the new end would be lost; shrink the filesystem on it first, then give --allow-shrink."));
        }

        if (Options.ReadOnly)
        {
            throw new ServiceException(ExitCodes.Usage, $"device {Id} is read-only ({Describe()} is opened read-only); it cannot be resized.");
        }

        if (Backend is not IResizableBackend storage)
        {
            throw new ServiceException(ExitCodes.Usage, $"device {Id} serves {Describe()}, whose size is fixed: only file and rbd targets can be resized.");
        }

        if (Engine.CopyOnWrite is { Stores.Count: > 0 } cow)
        {
            throw new ServiceException(ExitCodes.Usage, $"device {Id} keeps {cow.Stores.Count} copy-on-write snapshot(s) of {SizeBytes} bytes, so it cannot be resized; export and delete them first (loop-order snapshot export / delete).");
        }

        if (Engine.Tracker is not null)
        {
            // The tracker's bitmaps (the current generation's and each closed one's slot) are sized
            // for the device it opened with: a grown device's new regions could not be tracked.
            throw new ServiceException(ExitCodes.Usage, $"device {Id} tracks changes (--track-changes): its tracked regions are sized for {SizeBytes} bytes, so it cannot be resized; to resize it, delete it, move FILE.cbt away and add it again with --track-changes (then take a full backup: the earlier snapshots' changes are lost).");
        }

        if ((Device.Granted & UblkFeatures.UpdateSize) == 0)
        {
            throw new UblkFeatureUnavailableException(UblkFeatures.UpdateSize, "loop-order resize");
        }

        if (sizeBytes == current)
        {
            return;
        }

        Apply(current, sizeBytes, storage.Resize);

        Options.Size = sizeBytes.ToString(CultureInfo.InvariantCulture);
        _storageSeen = -1;
        Log.Resized(_logger, Id, Device.BlockDevicePath, Describe(), current, sizeBytes);
    }

    /// <summary>
    /// Called (under the daemon's lock) after storage that others can resize (an RBD image) may
    /// have changed size: a device that served all of it follows it with UPDATE_SIZE, growing or
    /// shrinking; one given a smaller --size follows only a shrink below it. Where it cannot follow
    /// (no UPDATE_SIZE, tracked changes, copy-on-write snapshots) it says so in the log and keeps
    /// its size: after a shrink, I/O past the image's end fails with EIO.
    /// </summary>
    /// <returns>True when the device's size changed (its record is then saved again).</returns>
    public bool FollowStorage()
    {
        if (Backend is not IExternallyResizable watched)
        {
            return false;
        }

        long current = SizeBytes;
        long seen = _storageSeen < 0 ? current : _storageSeen;
        long storage = watched.StorageLength;
        _storageSeen = storage;
        long target = storage / Options.BlockSize * Options.BlockSize;
        if (storage == seen || target == current)
        {
            return false;
        }

        if (target > current && current != seen / Options.BlockSize * Options.BlockSize)
        {
            Log.StorageResizedKept(_logger, Id, Describe(), storage, current, $"the device serves only its first {current} bytes (--size)");
            return false;
        }

        string? why = target == 0 ? "it is now smaller than one block"
            : Engine.CopyOnWrite is { Stores.Count: > 0 } ? "the device keeps copy-on-write snapshots"
            : Engine.Tracker is not null ? "the device tracks changes (--track-changes), sized for its current size"
            : (Device.Granted & UblkFeatures.UpdateSize) == 0 ? "this kernel lacks UBLK_F_UPDATE_SIZE; delete the device and add it again to serve the new size"
            : null;
        if (why is not null)
        {
            Log.StorageResizedKept(_logger, Id, Describe(), storage, current, why + (target < current ? $"; I/O past byte {storage} fails with EIO" : ""));
            return false;
        }

        Apply(current, target, watched.Follow);

        if (Options.Size is not null)
        {
            Options.Size = target.ToString(CultureInfo.InvariantCulture);
        }

        Log.StorageFollowed(_logger, Id, Device.BlockDevicePath, Describe(), current, target);
        return true;
    }

    /// <summary>
    /// The one order that never exposes an unbacked sector. Growing: the storage, the engine's
    /// bounds, then UPDATE_SIZE (a failure puts the first two back). Shrinking: UPDATE_SIZE, the
    /// bounds, then the storage.
    /// </summary>
    private void Apply(long current, long target, Action<long> storage)
    {
        if (target > current)
        {
            storage(target);
            Engine.Sequencer.SetCapacity(target);
            try
            {
                Device.Resize(target);
            }
            catch
            {
                Engine.Sequencer.SetCapacity(current);
                storage(current);
                throw;
            }

            return;
        }

        Device.Resize(target);
        Engine.Sequencer.SetCapacity(target);
        storage(target);
    }
}
