using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification;

/// <summary>
/// The power-cut model of one recorded run. The backing file's page cache is volatile: a crash
/// keeps what the disk holds, and the disk holds, per sector, the page cache's contents at the
/// instant of the sector's last writeback, which may be any instant at all except that
/// <list type="bullet">
/// <item>a successful sync S forces a writeback at or after its start: after S ends, the disk holds
///   the cache's contents at some instant at or after S's start;</item>
/// <item>a successful FUA write W forces one after its own copy into the cache: after W lands, the disk
///   holds W or what the cache held at a later instant.</item>
/// </list>
/// The cache's contents at an instant: each write-class request copies its data at one unknown
/// instant between its land-start and land-end (a failed one maybe never; we assume it might).
/// So write X can be the crash value of sector s at clock t (the implementation's set) unless
/// <list type="bullet">
/// <item>X has not started by t; or</item>
/// <item>a successful FUA write Y to s that started after X ended has ended by t; or</item>
/// <item>a successful write Y to s started after X ended and ended before the start of a successful
///   sync that ended by t (then X was overwritten in the cache before the sync's writeback).</item>
/// </list>
/// The contract's set: X can be the value unless a write Y to s, received after X completed, is
/// durable by t. Y is durable when acknowledged with FUA, or when a flush received after Y was
/// acknowledged (the kernel's contract) — or, in drain and strict, after Y was received (LoopOrder's)
/// — succeeded. Sectors are independent, so a crash image is any choice of one possible value per
/// sector, and checking each sector's sets covers every crash state. Sets change only at starts
/// (the implementation's grows) and at acknowledgements that make a write durable (the contract's
/// shrinks), so checking at those boundaries checks every boundary.
/// </summary>
public sealed class PowerCutModel
{
    private readonly TraceView _view;
    private readonly Version[][] _sectors;
    private readonly Version[] _initialOnly;

    internal PowerCutModel(TraceView view, OrderingMode mode, ulong capacitySectors)
    {
        _view = view;
        Mode = mode;
        CapacitySectors = capacitySectors;
        _initialOnly = [Version.Initial];
        bool ordering = mode is OrderingMode.Drain or OrderingMode.Strict;

        // Successful flushes by receipt, with suffix minima of their acks: "the first successful ack
        // of a flush received after clock c" is one binary search.
        var flushes = view.Requests.Where(r => r.Op == BlockOp.Flush && view.Of(r.Sequence).AckedOk)
            .Select(r => (Receive: view.Of(r.Sequence).Receive, Ack: view.Of(r.Sequence).Ack, r.Sequence))
            .OrderBy(f => f.Receive).ToArray();
        var suffixMin = new (long Ack, long Flush)[flushes.Length + 1];
        suffixMin[flushes.Length] = (TraceView.Never, 0);
        for (int i = flushes.Length - 1; i >= 0; i--)
        {
            suffixMin[i] = flushes[i].Ack < suffixMin[i + 1].Ack ? (flushes[i].Ack, flushes[i].Sequence) : suffixMin[i + 1];
        }

        (long Ack, long Flush) FirstFlushAfter(long clock)
        {
            int lo = 0, hi = flushes.Length;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (flushes[mid].Receive > clock)
                {
                    hi = mid;
                }
                else
                {
                    lo = mid + 1;
                }
            }

            return suffixMin[lo];
        }

        var bySector = new List<Version>?[capacitySectors];
        foreach (RequestRecord r in view.Requests)
        {
            Timeline t = view.Of(r.Sequence);
            if (!r.IsWriteClass || t.Rejected || r.StartSector >= capacitySectors)
            {
                continue;
            }

            var v = new Version
            {
                Sequence = r.Sequence,
                Receive = t.Receive,
                Ack = t.Ack,
                Start = t.Starts > 0 ? t.LandStart : TraceView.Never,
                End = t.Ends > 0 ? t.LandEnd : TraceView.Never,
                EndOk = t.LandedOk,
                Fua = r.Op == BlockOp.Write && t.LandFlags.HasFlag(RequestFlags.Fua),
                Value = InvariantChecker.ValueOf(r),
                DurableAt = TraceView.Never,
            };

            if (r.Flags.HasFlag(RequestFlags.Fua) && t.AckedOk)
            {
                (v.DurableAt, v.DurableBy) = (t.Ack, r.Sequence);
            }

            if (t.AckedOk && FirstFlushAfter(t.Ack) is var byAck && byAck.Ack < v.DurableAt)
            {
                (v.DurableAt, v.DurableBy) = byAck;
            }

            if (ordering && !t.AckedError && FirstFlushAfter(t.Receive) is var byReceipt && byReceipt.Ack < v.DurableAt)
            {
                (v.DurableAt, v.DurableBy) = byReceipt;
            }

            ulong end = Math.Min(r.StartSector + r.SectorCount, capacitySectors);
            for (ulong s = r.StartSector; s < end; s++)
            {
                (bySector[s] ??= [Version.Initial]).Add(v);
            }
        }

        _sectors = new Version[capacitySectors][];
        for (ulong s = 0; s < capacitySectors; s++)
        {
            Version[] versions = bySector[s] is { } list ? [.. list] : _initialOnly;
            if (versions.Length > 1)
            {
                ComputeKills(versions);
            }

            _sectors[s] = versions;
        }
    }

    /// <summary>The mode the run used: drain and strict are held to LoopOrder's stronger flush promise.</summary>
    public OrderingMode Mode { get; }

    /// <summary>Sectors in the device (and in every crash image).</summary>
    public ulong CapacitySectors { get; }

    /// <summary>The last clock of the run: a boundary after every event.</summary>
    public long LastClock => _view.Events.Length;

    /// <summary>Builds the model of the trace on <paramref name="recorder"/>. Call once the device is quiet.</summary>
    public static PowerCutModel Build(TraceRecorder recorder, OrderingMode mode, ulong capacitySectors)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        return new PowerCutModel(new TraceView(recorder), mode, capacitySectors);
    }

    /// <summary>The values (write ids; 0 for zeros) sector <paramref name="sector"/> could hold after a crash right after event <paramref name="clock"/>.</summary>
    public IReadOnlyList<ulong> PossibleValues(ulong sector, long clock)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(sector, CapacitySectors);
        long durablePoint = _view.LatestDurablePoint(clock);
        var values = new List<ulong>();
        foreach (Version v in _sectors[sector])
        {
            if (v.PossibleAt(clock, durablePoint) && !values.Contains(v.Value))
            {
                values.Add(v.Value);
            }
        }

        return values;
    }

    /// <summary>True when the contract allows sector <paramref name="sector"/> to read <paramref name="value"/> after a crash right after <paramref name="clock"/>.</summary>
    public bool IsAllowed(ulong sector, long clock, SectorValue value)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(sector, CapacitySectors);
        if (value.Status is not (SectorStatus.Valid or SectorStatus.Zero))
        {
            return false;
        }

        Version[] versions = _sectors[sector];
        long supersededBefore = SupersededBefore(versions, clock);
        foreach (Version v in versions)
        {
            if (v.Value == value.WriteId && v.AllowedAt(clock, supersededBefore))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>One crash image right after <paramref name="clock"/>: per sector, one of its possible values chosen with <paramref name="random"/>.</summary>
    public ulong[] SampleImage(long clock, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        long durablePoint = _view.LatestDurablePoint(clock);
        var image = new ulong[CapacitySectors];
        var possible = new List<ulong>();
        for (ulong s = 0; s < CapacitySectors; s++)
        {
            possible.Clear();
            foreach (Version v in _sectors[s])
            {
                if (v.PossibleAt(clock, durablePoint))
                {
                    possible.Add(v.Value);
                }
            }

            image[s] = possible[random.Next(possible.Count)];
        }

        return image;
    }

    /// <summary>
    /// One crash image right after <paramref name="clock"/> in which no aligned run of
    /// <paramref name="atomicSectors"/> sectors is torn between writes that covered it alike: per
    /// run one random draw picks, in every sector, the value at the same rank of its possible
    /// values (in receipt order), so sectors with the same history take the same write. This is
    /// the device's physical block (the unit Linux treats as written atomically) over a page
    /// cache that writes back whole pages. Every sector's value is still one of its possible
    /// values; 1 tears freely, like <see cref="SampleImage(long, Random)"/>.
    /// </summary>
    public ulong[] SampleImage(long clock, Random random, int atomicSectors)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfLessThan(atomicSectors, 1);
        long durablePoint = _view.LatestDurablePoint(clock);
        var image = new ulong[CapacitySectors];
        var possible = new List<ulong>();
        double draw = 0;
        for (ulong s = 0; s < CapacitySectors; s++)
        {
            if (s % (ulong)atomicSectors == 0)
            {
                draw = random.NextDouble();
            }

            possible.Clear();
            foreach (Version v in _sectors[s])
            {
                if (v.PossibleAt(clock, durablePoint))
                {
                    possible.Add(v.Value);
                }
            }

            image[s] = possible[(int)(draw * possible.Count)];
        }

        return image;
    }

    /// <summary>
    /// The crash image right after <paramref name="clock"/> that keeps, per sector, the newest
    /// (<paramref name="newest"/>) or the oldest possible value, by land start: the two extremes
    /// a recovery tool must cope with.
    /// </summary>
    public ulong[] ExtremeImage(long clock, bool newest)
    {
        long durablePoint = _view.LatestDurablePoint(clock);
        var image = new ulong[CapacitySectors];
        for (ulong s = 0; s < CapacitySectors; s++)
        {
            long best = newest ? -1 : long.MaxValue;
            foreach (Version v in _sectors[s])
            {
                if (v.PossibleAt(clock, durablePoint) && (newest ? v.Start > best : v.Start < best))
                {
                    (best, image[s]) = (v.Start, v.Value);
                }
            }
        }

        return image;
    }

    /// <summary>The seed the run's sector headers carry.</summary>
    public ulong Seed => _view.Seed;

    /// <summary>Checks, per sector, that every possible crash value is allowed, at every boundary where either set changes.</summary>
    internal void Check(List<Violation> found)
    {
        // Aggregated per (version, boundary) so one early-acknowledged write does not report each of its sectors.
        var reports = new Dictionary<(long Sequence, long Clock), (ulong Sector, int Count, Version Durable)>();
        var boundaries = new List<long>();
        for (ulong s = 0; s < CapacitySectors; s++)
        {
            Version[] versions = _sectors[s];
            if (versions.Length == 1)
            {
                continue;
            }

            boundaries.Clear();
            foreach (Version v in versions)
            {
                if (v.Sequence != 0 && v.Start != TraceView.Never)
                {
                    boundaries.Add(v.Start);
                }

                if (v.DurableAt != TraceView.Never)
                {
                    boundaries.Add(v.DurableAt);
                }
            }

            boundaries.Sort();
            long previous = -1;
            foreach (long clock in boundaries)
            {
                if (clock == previous)
                {
                    continue;
                }

                previous = clock;
                long durablePoint = _view.LatestDurablePoint(clock);
                long supersededBefore = SupersededBefore(versions, clock);
                bool zeroAllowed = versions.Any(v => v.Value == 0 && v.AllowedAt(clock, supersededBefore));
                foreach (Version v in versions)
                {
                    if (!v.PossibleAt(clock, durablePoint) || v.AllowedAt(clock, supersededBefore) || (v.Value == 0 && zeroAllowed))
                    {
                        continue;
                    }

                    Version durable = versions.Where(y => y.DurableAt <= clock).MaxBy(y => y.Receive);
                    reports[(v.Sequence, clock)] = reports.TryGetValue((v.Sequence, clock), out var r)
                        ? (r.Sector, r.Count + 1, r.Durable)
                        : (s, 1, durable);
                }
            }
        }

        foreach (((long sequence, long clock), (ulong sector, int count, Version durable)) in reports.OrderBy(r => r.Key.Clock))
        {
            string why = durable.DurableBy == durable.Sequence
                ? $"its FUA ack at e{durable.DurableAt}"
                : $"the ack of flush #{durable.DurableBy} at e{durable.DurableAt}";
            string more = count > 1 ? $" (and {count - 1} more sectors)" : "";
            found.Add(new Violation(Invariant.PowerCut,
                $"a crash right after e{clock} may leave sector {sector}{more} holding {_view.Describe(sequence)}, " +
                $"but {_view.Describe(durable.Sequence)}, received after it completed, is durable by {why}; the latest " +
                $"successful sync by then started at {TraceView.Clock(_view.LatestDurablePoint(clock))}"));
        }
    }

    /// <summary>The latest receipt of a write to this sector that is durable by <paramref name="clock"/>: every write completed before it is superseded.</summary>
    private static long SupersededBefore(Version[] versions, long clock)
    {
        long max = 0;
        foreach (Version v in versions)
        {
            if (v.DurableAt <= clock && v.Receive > max)
            {
                max = v.Receive;
            }
        }

        return max;
    }

    /// <summary>Fills each version's kill clocks from the others' land intervals (see the class summary).</summary>
    private static void ComputeKills(Version[] versions)
    {
        for (int i = 0; i < versions.Length; i++)
        {
            ref Version x = ref versions[i];
            x.SyncKill = TraceView.Never;
            x.FuaKill = TraceView.Never;
            if (x.End == TraceView.Never)
            {
                continue;
            }

            foreach (Version y in versions)
            {
                if (y.EndOk && y.Start > x.End)
                {
                    x.SyncKill = Math.Min(x.SyncKill, y.End);
                    if (y.Fua)
                    {
                        x.FuaKill = Math.Min(x.FuaKill, y.End);
                    }
                }
            }
        }
    }

    /// <summary>One value a sector may take: the initial zeros, or one write-class request's data.</summary>
    private struct Version
    {
        public long Sequence;
        public long Receive;
        public long Ack;
        public long Start;
        public long End;
        public bool EndOk;
        public bool Fua;
        public ulong Value;

        /// <summary>From this clock on, the contract holds the request durable.</summary>
        public long DurableAt;

        /// <summary>What made it durable: itself (FUA) or a flush.</summary>
        public long DurableBy;

        /// <summary>Gone from the cache before a sync starting after this clock could write it back.</summary>
        public long SyncKill;

        /// <summary>Overwritten durably by a FUA write ending at this clock.</summary>
        public long FuaKill;

        /// <summary>The zeros every sector starts with: "landed" and "acknowledged" before clock 1.</summary>
        public static Version Initial => new()
        {
            EndOk = true, DurableAt = TraceView.Never, SyncKill = TraceView.Never, FuaKill = TraceView.Never,
        };

        public readonly bool PossibleAt(long clock, long durablePoint) =>
            Start <= clock && clock < FuaKill && durablePoint <= SyncKill;

        public readonly bool AllowedAt(long clock, long supersededBefore) =>
            Receive <= clock && !(Ack < supersededBefore);
    }
}
