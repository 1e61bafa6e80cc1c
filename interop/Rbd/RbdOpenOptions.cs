namespace LoopOrder.Interop.Rbd;

/// <summary>What <see cref="RbdImage.Open"/> connects to and opens.</summary>
public sealed class RbdOpenOptions
{
    /// <summary>The cluster's configuration file (monitors, and usually the keyring).</summary>
    public required string ConfPath { get; init; }

    /// <summary>The client's name without "client." ("admin").</summary>
    public string ClientId { get; init; } = "admin";

    /// <summary>A keyring overriding the configuration's, or null.</summary>
    public string? KeyringPath { get; init; }

    /// <summary>The pool.</summary>
    public required string Pool { get; init; }

    /// <summary>The image.</summary>
    public required string Image { get; init; }

    /// <summary>
    /// How long a monitor or OSD operation (and the first connection) may wait for a cluster that
    /// does not answer before it fails with ETIMEDOUT: rados_osd_op_timeout,
    /// rados_mon_op_timeout and client_mount_timeout. Zero leaves Ceph's defaults (OSD operations
    /// wait for ever).
    /// </summary>
    public TimeSpan Timeout { get; init; }

    /// <summary>librbd's own cache (rbd_cache): false makes a write complete only once the OSDs have it.</summary>
    public bool Cache { get; init; }

    /// <summary>Open the image read-only (no lock is taken).</summary>
    public bool ReadOnly { get; init; }
}
