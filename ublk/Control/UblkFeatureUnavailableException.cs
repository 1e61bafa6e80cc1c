using LoopOrder.Ublk.Protocol;

namespace LoopOrder.Ublk.Control;

/// <summary>
/// Something was asked for that needs a UBLK_F_* feature the running kernel's ublk_drv does not
/// offer (GET_FEATURES lacks it). Nothing was created or changed.
/// </summary>
public sealed class UblkFeatureUnavailableException : Exception
{
    /// <summary>A request that needs <paramref name="feature"/>.</summary>
    /// <param name="feature">The missing flag.</param>
    /// <param name="what">What needed it, for the message ("--recovery-io fail").</param>
    public UblkFeatureUnavailableException(UblkFeatures feature, string what)
        : base($"{what} needs {UblkFeatureNames.Name(feature)}, which this kernel's ublk_drv (Linux {UblkFeatureNames.KernelRelease()}) does not offer; see loop-order features.")
    {
        Feature = feature;
    }

    /// <summary>Unused: a feature is always named.</summary>
    public UblkFeatureUnavailableException()
        : this(UblkFeatures.None, "this request")
    {
    }

    /// <summary>Unused: a feature is always named.</summary>
    /// <param name="message">The message.</param>
    public UblkFeatureUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Unused: a feature is always named.</summary>
    /// <param name="message">The message.</param>
    /// <param name="inner">The cause.</param>
    public UblkFeatureUnavailableException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>The flag the kernel lacks.</summary>
    public UblkFeatures Feature { get; }
}
