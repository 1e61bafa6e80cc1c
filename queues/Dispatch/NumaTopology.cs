using System.Globalization;

namespace LoopOrder.Queues.Dispatch;

/// <summary>
/// The machine's sockets (NUMA nodes) and the CPUs of each, as sysfs describes them under
/// <c>&lt;root&gt;/devices/system/node/node*/cpulist</c>. Nodes are numbered 0..<see cref="NodeCount"/>-1
/// in ascending order of their kernel node ids; <see cref="Requests.BlockRequest.Node"/> holds such
/// an index. Nodes without CPUs (memory-only nodes: CXL, persistent memory) are left out, since no
/// worker can be pinned to them. Immutable and thread-safe.
/// </summary>
public sealed class NumaTopology
{
    /// <summary>Where sysfs is mounted on every Linux system.</summary>
    public const string DefaultSysfsRoot = "/sys";

    /// <summary>CPUs of each node, ascending; never empty.</summary>
    private readonly int[][] _cpus;

    /// <summary>Kernel node id of each node index.</summary>
    private readonly int[] _nodeIds;

    /// <summary>Node index of each CPU number, -1 for a CPU no node lists; as long as the highest CPU + 1.</summary>
    private readonly int[] _nodeOfCpu;

    private NumaTopology(int[] nodeIds, int[][] cpus)
    {
        _nodeIds = nodeIds;
        _cpus = cpus;
        int maxCpu = cpus.Max(static c => c[^1]);
        _nodeOfCpu = new int[maxCpu + 1];
        Array.Fill(_nodeOfCpu, -1);
        for (int node = 0; node < cpus.Length; node++)
        {
            foreach (int cpu in cpus[node])
            {
                if (_nodeOfCpu[cpu] != -1)
                {
                    throw new ArgumentException($"CPU {cpu} is listed by node ids {nodeIds[_nodeOfCpu[cpu]]} and {nodeIds[node]}");
                }

                _nodeOfCpu[cpu] = node;
            }
        }
    }

    /// <summary>Number of nodes (at least 1).</summary>
    public int NodeCount => _cpus.Length;

    /// <summary>True when the node tree was absent and this is the one-node fallback.</summary>
    public bool IsFallback { get; private init; }

    /// <summary>
    /// Reads the topology from sysfs. When the node tree is absent (kernels without CONFIG_NUMA,
    /// some containers) or lists no CPU, the result is one node holding every online CPU (from
    /// <c>devices/system/cpu/online</c>, else 0..<see cref="Environment.ProcessorCount"/>-1).
    /// </summary>
    /// <param name="sysfsRoot">The sysfs mount point; tests pass a fake tree.</param>
    /// <exception cref="FormatException">A cpulist file is malformed.</exception>
    public static NumaTopology Read(string sysfsRoot = DefaultSysfsRoot)
    {
        ArgumentNullException.ThrowIfNull(sysfsRoot);
        var nodes = new SortedList<int, int[]>();
        string nodeDir = Path.Combine(sysfsRoot, "devices", "system", "node");
        if (Directory.Exists(nodeDir))
        {
            foreach (string dir in Directory.EnumerateDirectories(nodeDir, "node*"))
            {
                string name = Path.GetFileName(dir);
                string cpulist = Path.Combine(dir, "cpulist");
                if (!int.TryParse(name.AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out int id) || !File.Exists(cpulist))
                {
                    continue;
                }

                int[] cpus = ParseCpuList(File.ReadAllText(cpulist));
                if (cpus.Length > 0)
                {
                    nodes.Add(id, cpus);
                }
            }
        }

        if (nodes.Count > 0)
        {
            return new NumaTopology([.. nodes.Keys], [.. nodes.Values]);
        }

        return SingleNode(OnlineCpus(sysfsRoot));
    }

    /// <summary>A topology of the given nodes (CPU lists in node-index order), for tests and benchmarks.</summary>
    /// <param name="nodeCpus">The CPUs of each node; each non-empty, no CPU in two nodes.</param>
    public static NumaTopology FromNodes(params int[][] nodeCpus)
    {
        ArgumentNullException.ThrowIfNull(nodeCpus);
        if (nodeCpus.Length == 0)
        {
            throw new ArgumentException("At least one node is needed.", nameof(nodeCpus));
        }

        var cpus = new int[nodeCpus.Length][];
        for (int i = 0; i < nodeCpus.Length; i++)
        {
            ArgumentNullException.ThrowIfNull(nodeCpus[i], nameof(nodeCpus));
            cpus[i] = [.. nodeCpus[i].Distinct().Order()];
            if (cpus[i].Length == 0 || cpus[i][0] < 0)
            {
                throw new ArgumentException($"Node {i} needs at least one CPU, none negative.", nameof(nodeCpus));
            }
        }

        return new NumaTopology([.. Enumerable.Range(0, cpus.Length)], cpus);
    }

    /// <summary>One node holding <paramref name="cpus"/>.</summary>
    private static NumaTopology SingleNode(int[] cpus) => new([0], [cpus]) { IsFallback = true };

    /// <summary>The online CPUs per sysfs, else every CPU the runtime counts.</summary>
    private static int[] OnlineCpus(string sysfsRoot)
    {
        string online = Path.Combine(sysfsRoot, "devices", "system", "cpu", "online");
        if (File.Exists(online))
        {
            int[] cpus = ParseCpuList(File.ReadAllText(online));
            if (cpus.Length > 0)
            {
                return cpus;
            }
        }

        return [.. Enumerable.Range(0, Environment.ProcessorCount)];
    }

    /// <summary>The kernel's node id of node index <paramref name="node"/> (ids may have gaps; indices do not).</summary>
    public int NodeId(int node) => _nodeIds[CheckNode(node)];

    /// <summary>The CPUs of node index <paramref name="node"/>, ascending.</summary>
    public ReadOnlySpan<int> CpusOf(int node) => _cpus[CheckNode(node)];

    /// <summary>The node index holding <paramref name="cpu"/>, or -1 when no node lists it.</summary>
    public int NodeOfCpu(int cpu) => (uint)cpu < (uint)_nodeOfCpu.Length ? _nodeOfCpu[cpu] : -1;

    /// <summary>
    /// The node index holding most of <paramref name="cpus"/> (a queue's CPUs, from ublk's
    /// GET_QUEUE_AFFINITY): its worker is closest to the thread that submits. Ties go to the
    /// lowest index; no known CPU at all gives node 0.
    /// </summary>
    public int NodeForCpus(ReadOnlySpan<int> cpus)
    {
        // Node counts are small (a few sockets, at most a few dozen sub-NUMA clusters): a stack
        // tally up to this many nodes, a heap one beyond (never on the I/O path).
        const int StackNodes = 64;
        Span<int> votes = NodeCount <= StackNodes ? stackalloc int[StackNodes] : new int[NodeCount];
        votes = votes[..NodeCount];
        votes.Clear();
        foreach (int cpu in cpus)
        {
            int node = NodeOfCpu(cpu);
            if (node >= 0)
            {
                votes[node]++;
            }
        }

        int best = 0;
        for (int node = 1; node < votes.Length; node++)
        {
            if (votes[node] > votes[best])
            {
                best = node;
            }
        }

        return best;
    }

    /// <summary>
    /// Parses a kernel cpulist ("0-3,8-11", "5", "" or "\n" for none; ranges may carry a stride,
    /// "0-15:2/4" = the first 2 of every 4, as bitmap_parselist accepts) into ascending distinct CPUs.
    /// </summary>
    /// <exception cref="FormatException">The text is not a cpulist.</exception>
    public static int[] ParseCpuList(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var cpus = new SortedSet<int>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string range = part;
            int used = 1, group = 1;
            int colon = range.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0)
            {
                string[] stride = range[(colon + 1)..].Split('/');
                if (stride.Length != 2)
                {
                    throw new FormatException($"bad cpulist stride '{part}'");
                }

                used = ParseCpu(stride[0], part);
                group = ParseCpu(stride[1], part);
                if (used == 0 || group == 0 || used > group)
                {
                    throw new FormatException($"bad cpulist stride '{part}'");
                }

                range = range[..colon];
            }

            int dash = range.IndexOf('-', StringComparison.Ordinal);
            int first = ParseCpu(dash < 0 ? range : range[..dash], part);
            int last = dash < 0 ? first : ParseCpu(range[(dash + 1)..], part);
            if (last < first)
            {
                throw new FormatException($"bad cpulist range '{part}'");
            }

            for (int cpu = first; cpu <= last; cpu++)
            {
                if ((cpu - first) % group < used)
                {
                    cpus.Add(cpu);
                }
            }
        }

        return [.. cpus];
    }

    private static int ParseCpu(string s, string part) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v)
            ? v
            : throw new FormatException($"bad cpulist entry '{part}'");

    private int CheckNode(int node)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(node);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(node, NodeCount);
        return node;
    }

    /// <inheritdoc />
    public override string ToString() =>
        string.Join("; ", Enumerable.Range(0, NodeCount).Select(n => $"node{_nodeIds[n]}: {string.Join(",", _cpus[n])}"));
}
