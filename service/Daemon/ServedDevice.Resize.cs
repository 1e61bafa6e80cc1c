using System.Globalization;
using LoopOrder.Queues.Backends;
using LoopOrder.Ublk.Control;
using LoopOrder.Ublk.Protocol;

namespace LoopOrder.Service.Daemon;

/// <summary>loop-order resize: the backing file, the engine's bounds and the kernel device, in the order that never exposes an unbacked sector.</summary>
public sealed partial class ServedDevice
{
    /// <summary>
    /// Sets the device and its file to <paramref name="sizeBytes"/>. Growing: the file, then the
    /// engine's bounds, then UPDATE_SIZE (a failure puts the first two back). Shrinking: UPDATE_SIZE,
    /// then the bounds, then the file. Throws a <see cref="ServiceException"/> (bad size, 64), or
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

        if (Backend is not FileBackend file)
        {
            throw new ServiceException(ExitCodes.Usage, $"device {Id} serves {Describe()}: only a file target can be resized.");
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

        if (sizeBytes > current)
        {
            file.Resize(sizeBytes);
            Engine.Sequencer.SetCapacity(sizeBytes);
            try
            {
                Device.Resize(sizeBytes);
            }
            catch
            {
                Engine.Sequencer.SetCapacity(current);
                file.Resize(current);
                throw;
            }
        }
        else
        {
            Device.Resize(sizeBytes);
            Engine.Sequencer.SetCapacity(sizeBytes);
            file.Resize(sizeBytes);
        }

        Options.Size = sizeBytes.ToString(CultureInfo.InvariantCulture);
        Log.Resized(_logger, Id, Device.BlockDevicePath, current, sizeBytes);
    }
}
