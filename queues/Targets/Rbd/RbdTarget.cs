using System.Globalization;
using LoopOrder.Interop;
using LoopOrder.Interop.Rbd;

namespace LoopOrder.Queues.Targets.Rbd;

/// <summary>
/// A Ceph RBD image (<c>--target rbd --pool P --image I</c>) through librbd (<see cref="RbdBackend"/>).
/// The image outlives the daemon: a device is added with USER_RECOVERY and a restarted daemon
/// reopens it from its record. The device holds the image's exclusive lock, so a second daemon
/// (or any other librbd client that asks for the lock) is refused.
/// </summary>
public sealed class RbdTarget : ITarget
{
    /// <summary>The target's name.</summary>
    public const string TargetName = "rbd";

    /// <summary>The pool.</summary>
    public const string PoolOption = "pool";

    /// <summary>The image.</summary>
    public const string ImageOption = "image";

    /// <summary>The client name.</summary>
    public const string IdOption = "id";

    /// <summary>The configuration file.</summary>
    public const string ConfOption = "conf";

    /// <summary>The keyring.</summary>
    public const string KeyringOption = "keyring";

    /// <summary>The I/O timeout in seconds.</summary>
    public const string TimeoutOption = "rbd-timeout";

    /// <summary>Default configuration file.</summary>
    public const string DefaultConf = "/etc/ceph/ceph.conf";

    /// <summary>Default client name.</summary>
    public const string DefaultId = "admin";

    /// <summary>Default I/O timeout, seconds.</summary>
    public const int DefaultTimeoutSeconds = 30;

    /// <summary>
    /// How long a restarted daemon waits for the lock its killed predecessor held: that client's
    /// watch times out after osd_client_watch_timeout (30 s by default), then the lock is broken.
    /// </summary>
    public static readonly TimeSpan RecoveryLockWait = TimeSpan.FromSeconds(75);

    /// <inheritdoc />
    public string Name => TargetName;

    /// <inheritdoc />
    public string Summary => "a Ceph RBD image (--pool P --image I) through librbd, held under its exclusive lock; survives a daemon restart";

    /// <inheritdoc />
    public IReadOnlyList<TargetOption> Options { get; } =
    [
        new(PoolOption, "The RBD pool. Required with --target rbd; no default."),
        new(ImageOption, "The RBD image, which must have the exclusive-lock feature (rbd create --image-feature layering,exclusive-lock). Required with --target rbd; no default."),
        new(IdOption, $"The Ceph client name without 'client.' (its key must be in the keyring). Default: {DefaultId}."),
        new(ConfOption, $"The Ceph configuration file (monitors, keyring). Default: {DefaultConf}.", TargetOptionKind.Path),
        new(KeyringOption, "A keyring holding the client's key. Default: the keyring the configuration file names (Ceph's own default: /etc/ceph/ceph.client.ID.keyring).", TargetOptionKind.Path),
        new(TimeoutOption, $"Seconds a request (and connecting) waits for a cluster that does not answer before it fails with EIO, 1 to 3600. Default: {DefaultTimeoutSeconds}."),
    ];

    /// <inheritdoc />
    public TargetCapabilities Capabilities =>
        TargetCapabilities.NeedsFlush | TargetCapabilities.Discard | TargetCapabilities.Persistent | TargetCapabilities.ReadOnly;

    /// <inheritdoc />
    public string? Problem(TargetRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(request.Value(PoolOption)))
        {
            return "--pool is required with --target rbd: the RBD pool, e.g. --pool rbd.";
        }

        if (string.IsNullOrWhiteSpace(request.Value(ImageOption)))
        {
            return "--image is required with --target rbd: the RBD image in --pool, e.g. --image vm1.";
        }

        foreach (string option in new[] { PoolOption, ImageOption, IdOption })
        {
            if (request.Value(option) is { } v && (v.Contains('/', StringComparison.Ordinal) || v.Contains('@', StringComparison.Ordinal) || v.Any(char.IsWhiteSpace)))
            {
                return $"--{option}: '{v}' may not contain '/', '@' or spaces.";
            }
        }

        if (request.Value(IdOption) is { } id && id.StartsWith("client.", StringComparison.Ordinal))
        {
            return $"--id: give the name without 'client.' (--id {id["client.".Length..]}).";
        }

        foreach (string option in new[] { ConfOption, KeyringOption })
        {
            if (request.Value(option) is { } path && !System.IO.File.Exists(path))
            {
                return $"--{option}: {path} does not exist.";
            }
        }

        if (request.Value(ConfOption) is null && !System.IO.File.Exists(DefaultConf))
        {
            return $"--conf: {DefaultConf} does not exist; give the cluster's configuration file.";
        }

        if (request.Value(TimeoutOption) is { } t && ParseTimeout(t) is null)
        {
            return $"--{TimeoutOption}: '{t}' is not a number of seconds from 1 to 3600.";
        }

        return null;
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> Normalise(IReadOnlyDictionary<string, string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var n = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            [PoolOption] = values[PoolOption].Trim(),
            [ImageOption] = values[ImageOption].Trim(),
            [IdOption] = values.TryGetValue(IdOption, out string? id) ? id.Trim() : DefaultId,
            [ConfOption] = Path.GetFullPath(values.TryGetValue(ConfOption, out string? conf) ? conf : DefaultConf),
        };
        if (values.TryGetValue(KeyringOption, out string? keyring))
        {
            n[KeyringOption] = Path.GetFullPath(keyring);
        }

        if (values.TryGetValue(TimeoutOption, out string? t) && ParseTimeout(t) is { } seconds)
        {
            n[TimeoutOption] = seconds.ToString(CultureInfo.InvariantCulture);
        }

        return n;
    }

    /// <inheritdoc />
    public string Describe(IReadOnlyDictionary<string, string> values) =>
        values is not null && values.TryGetValue(PoolOption, out string? p) && values.TryGetValue(ImageOption, out string? i)
            ? $"rbd:{p}/{i}"
            : "(no image)";

    /// <inheritdoc />
    public bool SameStorage(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);

        // Two configuration files may name one cluster; the exclusive lock keeps those apart.
        return string.Equals(Get(a, PoolOption), Get(b, PoolOption), StringComparison.Ordinal)
            && string.Equals(Get(a, ImageOption), Get(b, ImageOption), StringComparison.Ordinal)
            && string.Equals(Get(a, ConfOption), Get(b, ConfOption), StringComparison.Ordinal);
    }

    /// <inheritdoc />
    public string? InitialImage(TargetRequest request) => null;

    /// <inheritdoc />
    public OpenedTarget Open(TargetRequest request, TargetContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        if (RbdLibrary.Problem is { } missing)
        {
            throw new TargetException(TargetFailure.Unavailable, missing + ".");
        }

        var options = new RbdOpenOptions
        {
            ConfPath = request.Value(ConfOption) ?? DefaultConf,
            ClientId = request.Value(IdOption) ?? DefaultId,
            KeyringPath = request.Value(KeyringOption),
            Pool = request.Value(PoolOption)!,
            Image = request.Value(ImageOption)!,
            Timeout = TimeSpan.FromSeconds(ParseTimeout(request.Value(TimeoutOption) ?? "") ?? DefaultTimeoutSeconds),
            Cache = false,
            ReadOnly = request.ReadOnly,
        };
        string name = options.Pool + "/" + options.Image;
        RbdBackend backend;
        try
        {
            backend = RbdBackend.Open(new RbdBackendOptions
            {
                Image = options,
                Size = request.Size,
                LockWait = request.Recovering ? RecoveryLockWait : TimeSpan.Zero,
                Logger = context.Logger,
                DeviceName = context.BlockDevice,
            });
        }
        catch (ErrnoException e)
        {
            throw Refusal(e, options, name);
        }
        catch (RbdLockException e)
        {
            throw new TargetException(e.Held ? TargetFailure.InUse : TargetFailure.Usage, e.Message + ".", e);
        }
        catch (ArgumentException e)
        {
            throw new TargetException(TargetFailure.Usage, e.Message + "; give a smaller --size, or none to serve the whole image.", e);
        }

        if (backend.Length < request.BlockSize)
        {
            backend.Dispose();
            throw new TargetException(TargetFailure.Usage, $"rbd image {name} holds {backend.Image.Size} bytes, less than one {request.BlockSize}-byte block.");
        }

        return new OpenedTarget(backend);
    }

    /// <summary>What a failed open step means to the user, and its exit code.</summary>
    private static TargetException Refusal(ErrnoException e, RbdOpenOptions o, string name) => (e.Operation, e.Errno) switch
    {
        ("rados_conf_read_file", _) => new(TargetFailure.NoInput, $"{e.Message}; --conf must be a readable Ceph configuration file.", e),
        ("rados_connect", Errno.EACCES or Errno.EPERM) => new(TargetFailure.NoPermission, $"{e.Message}: the cluster refused client.{o.ClientId}'s credentials; check --id and the key in {o.KeyringPath ?? "the keyring " + o.ConfPath + " names"}.", e),
        ("rados_connect", Errno.ENOENT) => new(TargetFailure.NoPermission, $"{e.Message}: no key for client.{o.ClientId}; give --keyring, or --id of a client whose key the keyring holds.", e),
        ("rados_connect", Errno.ETIMEDOUT) => new(TargetFailure.Unavailable, $"{e.Message}: no monitor in {o.ConfPath} answered within {o.Timeout.TotalSeconds} s (--{TimeoutOption}); is the cluster up?", e),
        ("rados_connect", _) => new(TargetFailure.Unavailable, $"{e.Message}: cannot connect to the cluster in {o.ConfPath}.", e),
        ("rados_ioctx_create", Errno.ENOENT) => new(TargetFailure.NoInput, $"{e.Message}: there is no pool '{o.Pool}' (ceph osd pool ls).", e),
        ("rbd_open", Errno.ENOENT) => new(TargetFailure.NoInput, $"{e.Message}: there is no image '{o.Image}' in pool '{o.Pool}' (rbd ls {o.Pool}); create it with rbd create --size SIZE --image-feature layering,exclusive-lock {name}.", e),
        (_, Errno.EACCES or Errno.EPERM) => new(TargetFailure.NoPermission, $"{e.Message}: client.{o.ClientId} may not use {name}; check its caps (ceph auth get client.{o.ClientId}).", e),
        (_, Errno.ETIMEDOUT) => new(TargetFailure.Unavailable, $"{e.Message}: the cluster did not answer within {o.Timeout.TotalSeconds} s (--{TimeoutOption}).", e),
        _ => new(TargetFailure.Unavailable, e.Message + ".", e),
    };

    private static string? Get(IReadOnlyDictionary<string, string> values, string key) => values.TryGetValue(key, out string? v) ? v : null;

    private static int? ParseTimeout(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is >= 1 and <= 3600 ? n : null;
}
