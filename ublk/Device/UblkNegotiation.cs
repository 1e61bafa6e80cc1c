using LoopOrder.Ublk.Control;
using LoopOrder.Ublk.Protocol;

namespace LoopOrder.Ublk.Device;

/// <summary>How LoopOrder treats one UBLK_F_* flag.</summary>
public enum UblkFeatureUse
{
    /// <summary>Not asked for; <see cref="UblkFeatureDescription.Reason"/> says why.</summary>
    Unused,

    /// <summary>Asked for on every device where the kernel offers it.</summary>
    Always,

    /// <summary>Asked for when a device option wants it (<see cref="UblkFeatureDescription.Reason"/> names the option).</summary>
    Option,

    /// <summary>Set by the kernel on every device by itself; LoopOrder relies on it or not as the reason says.</summary>
    KernelSet,
}

/// <summary>One flag: whether the kernel offers it, whether LoopOrder uses it, and why (not).</summary>
/// <param name="Feature">The flag.</param>
/// <param name="Offered">GET_FEATURES reported it.</param>
/// <param name="Use">How LoopOrder treats it.</param>
/// <param name="Reason">What it is used for, or why not.</param>
public sealed record UblkFeatureDescription(UblkFeatures Feature, bool Offered, UblkFeatureUse Use, string Reason)
{
    /// <summary>UBLK_F_… name.</summary>
    public string Name => UblkFeatureNames.Name(Feature);
}

/// <summary>
/// What ADD_DEV asks for: only flags GET_FEATURES offered, only those a device option or
/// LoopOrder's design wants. The kernel drops flags it does not know (ublk_ctrl_add_dev masks with
/// UBLK_F_ALL) and writes back what it granted, so asking only for offered flags keeps the request
/// and the grant the same, on 6.12 and on newer kernels alike.
/// </summary>
public static class UblkNegotiation
{
    private const UblkFeatures Recovery = UblkFeatures.UserRecovery | UblkFeatures.UserRecoveryReissue;
    private const UblkFeatures RecoveryFailIo = UblkFeatures.UserRecovery | UblkFeatures.UserRecoveryFailIo;

    /// <summary>
    /// The flags to put in ADD_DEV's ublksrv_ctrl_dev_info. Throws when an option needs a flag the
    /// kernel lacks and has no fallback (<see cref="UblkDeviceOptions.RecoveryFailIo"/>).
    /// </summary>
    /// <param name="options">The device.</param>
    /// <param name="offered">GET_FEATURES' answer.</param>
    /// <exception cref="UblkFeatureUnavailableException"><see cref="UblkDeviceOptions.RecoveryFailIo"/> without UBLK_F_USER_RECOVERY_FAIL_IO.</exception>
    public static UblkFeatures Request(UblkDeviceOptions options, UblkFeatures offered)
    {
        ArgumentNullException.ThrowIfNull(options);

        // Always set by the kernel; asked for so the request says what the commands are.
        UblkFeatures flags = UblkFeatures.CmdIoctlEncode;
        if (options.UserRecovery && options.RecoveryFailIo)
        {
            // FAIL_IO and REISSUE exclude each other (the kernel refuses the pair with EINVAL):
            // requests in flight at the crash fail like new ones.
            if ((offered & RecoveryFailIo) != RecoveryFailIo)
            {
                throw new UblkFeatureUnavailableException(UblkFeatures.UserRecoveryFailIo, "failing I/O fast while no server runs (--recovery-io fail)");
            }

            flags |= RecoveryFailIo;
        }
        else if (options.UserRecovery && (offered & Recovery) == Recovery)
        {
            flags |= Recovery;
        }

        // Costs nothing until UPDATE_SIZE is sent (loop-order resize).
        flags |= offered & UblkFeatures.UpdateSize;

        // TRY_STOP_DEV for del without --force; 7.0 sets it by itself, asking says we rely on it.
        flags |= offered & UblkFeatures.SafeStopDev;

        if (!options.PartitionScan)
        {
            flags |= offered & UblkFeatures.NoAutoPartScan;
        }

        if (options.ZeroCopy)
        {
            flags |= offered & UblkFeatures.AutoBufReg;
        }

        if (options.BatchIo)
        {
            flags |= offered & UblkFeatures.BatchIo;
        }

        if (options.Quiesce && (flags & UblkFeatures.UserRecovery) != 0)
        {
            // The kernel refuses QUIESCE without USER_RECOVERY.
            flags |= offered & UblkFeatures.Quiesce;
        }

        return flags;
    }

    /// <summary>Every flag this build knows, plus any unknown one offered: offered or not, used or not, and why.</summary>
    /// <param name="offered">GET_FEATURES' answer.</param>
    public static IReadOnlyList<UblkFeatureDescription> Describe(UblkFeatures offered)
    {
        var result = new List<UblkFeatureDescription>();
        UblkFeatures all = offered;
        foreach (UblkFeatures f in UblkFeatureNames.Known)
        {
            all |= f;
        }

        for (ulong rest = (ulong)all; rest != 0; rest &= rest - 1)
        {
            var f = (UblkFeatures)(1UL << System.Numerics.BitOperations.TrailingZeroCount(rest));
            (UblkFeatureUse use, string reason) = Policy(f);
            result.Add(new UblkFeatureDescription(f, (offered & f) != 0, use, reason));
        }

        return result;
    }

    private static (UblkFeatureUse Use, string Reason) Policy(UblkFeatures f) => f switch
    {
        UblkFeatures.SupportZeroCopy => (UblkFeatureUse.Unused, "zero copy: negotiated later by the performance work"),
        UblkFeatures.UringCmdCompInTask => (UblkFeatureUse.KernelSet, "completions run in task context; nothing to do"),
        UblkFeatures.NeedGetData => (UblkFeatureUse.Unused, "the kernel copies write data into the fetched buffer before the request arrives; a second command per write would only add latency"),
        UblkFeatures.UserRecovery => (UblkFeatureUse.Always, "the device outlives a crashed daemon; the next daemon recovers it"),
        UblkFeatures.UserRecoveryReissue => (UblkFeatureUse.Option, "--recovery-io wait (the default): I/O waits for the next daemon, in-flight requests are sent again"),
        UblkFeatures.UnprivilegedDev => (UblkFeatureUse.Unused, "the daemon runs as root"),
        UblkFeatures.CmdIoctlEncode => (UblkFeatureUse.Always, "commands use the ioctl-encoded codes"),
        UblkFeatures.UserCopy => (UblkFeatureUse.Unused, "data arrives in fetched buffers; pread/pwrite on /dev/ublkcN would add a copy call per request"),
        UblkFeatures.Zoned => (UblkFeatureUse.Unused, "not a zoned target: a file is randomly writable"),
        UblkFeatures.UserRecoveryFailIo => (UblkFeatureUse.Option, "--recovery-io fail: I/O fails at once (EREMOTEIO) while no daemon serves the device"),
        UblkFeatures.UpdateSize => (UblkFeatureUse.Always, "loop-order resize: grows or shrinks a live device"),
        UblkFeatures.AutoBufReg => (UblkFeatureUse.Option, "--zero-copy (file target): each request's pages are registered in its queue's ring and the queue thread reads and writes the file from them, with no copy into a buffer of ours"),
        UblkFeatures.Quiesce => (UblkFeatureUse.Unused, "QUIESCE_DEV is wrapped (UblkControl.QuiesceDevice) for snapshots (issue 15); no command uses it yet"),
        UblkFeatures.PerIoDaemon => (UblkFeatureUse.KernelSet, "one thread per queue commits its own tags; LoopOrder does not need tags spread over threads"),
        UblkFeatures.BufRegOffDaemon => (UblkFeatureUse.KernelSet, "only matters for buffers registered by hand from another thread; zero copy here registers them automatically on the queue's own ring"),
        UblkFeatures.BatchIo => (UblkFeatureUse.Option, "--batch-io: each queue arms its tags with one PREP_IO_CMDS, learns of new requests from multishot FETCH_IO_CMDS and completes a round's requests with one COMMIT_IO_CMDS"),
        UblkFeatures.Integrity => (UblkFeatureUse.Unused, "a file stores no integrity metadata"),
        UblkFeatures.SafeStopDev => (UblkFeatureUse.Always, "del refuses a device that is open or mounted (TRY_STOP_DEV) unless --force"),
        UblkFeatures.NoAutoPartScan => (UblkFeatureUse.Option, "the host does not scan a guest's partition table on the device unless --partitions"),
        UblkFeatures.ShmemZc => (UblkFeatureUse.Unused, "shared-memory zero copy: negotiated later by the performance work"),
        UblkFeatures.IoDescSize => (UblkFeatureUse.Unused, "the 24-byte descriptor is all LoopOrder reads"),
        _ => (UblkFeatureUse.Unused, "unknown to this build of LoopOrder"),
    };
}
