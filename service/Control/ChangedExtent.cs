namespace LoopOrder.Service.Control;

/// <summary>One run of changed bytes of a device, as <c>loop-order changes</c> reports it (whole tracked regions, coalesced; the last clipped to the device's end).</summary>
public sealed class ChangedExtent
{
    /// <summary>Where it starts, in bytes from the device's start.</summary>
    public long Offset { get; set; }

    /// <summary>How many bytes.</summary>
    public long Length { get; set; }
}
