using LoopOrder.Queues.Dispatch;

namespace LoopOrder.Queues.Tests.Dispatch;

public sealed class NumaTopologyTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("loop-sysfs-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private void WriteNode(string name, string? cpulist)
    {
        string dir = Path.Combine(_root, "devices", "system", "node", name);
        Directory.CreateDirectory(dir);
        if (cpulist is not null)
        {
            File.WriteAllText(Path.Combine(dir, "cpulist"), cpulist);
        }
    }

    [Theory]
    [InlineData("0-3,8-11\n", new[] { 0, 1, 2, 3, 8, 9, 10, 11 })]
    [InlineData("5", new[] { 5 })]
    [InlineData("\n", new int[0])]
    [InlineData("", new int[0])]
    [InlineData("0,2,4-5", new[] { 0, 2, 4, 5 })]
    [InlineData("3-4,0-1", new[] { 0, 1, 3, 4 })]
    [InlineData("0-9:2/5", new[] { 0, 1, 5, 6 })]
    public void ParsesCpuLists(string text, int[] expected) => Assert.Equal(expected, NumaTopology.ParseCpuList(text));

    [Theory]
    [InlineData("a")]
    [InlineData("3-1")]
    [InlineData("-1")]
    [InlineData("1-")]
    [InlineData("0-3:3/2")]
    public void RejectsMalformedCpuLists(string text) => Assert.Throws<FormatException>(() => NumaTopology.ParseCpuList(text));

    [Fact]
    public void ReadsTwoNodesInNodeIdOrder()
    {
        // node10 sorts before node2 as a string: indices must follow the numeric id.
        WriteNode("node10", "4-7,12-15\n");
        WriteNode("node2", "0-3,8-11\n");
        WriteNode("node3", "\n");          // memory-only node: skipped
        WriteNode("possible", null);       // not a node directory
        File.WriteAllText(Path.Combine(_root, "devices", "system", "node", "online"), "2-3,10\n");

        var t = NumaTopology.Read(_root);

        Assert.False(t.IsFallback);
        Assert.Equal(2, t.NodeCount);
        Assert.Equal(2, t.NodeId(0));
        Assert.Equal(10, t.NodeId(1));
        Assert.Equal([0, 1, 2, 3, 8, 9, 10, 11], t.CpusOf(0).ToArray());
        Assert.Equal([4, 5, 6, 7, 12, 13, 14, 15], t.CpusOf(1).ToArray());
        Assert.Equal(0, t.NodeOfCpu(9));
        Assert.Equal(1, t.NodeOfCpu(13));
        Assert.Equal(-1, t.NodeOfCpu(16));
        Assert.Equal(-1, t.NodeOfCpu(-1));
        Assert.Equal(1, t.NodeForCpus([4, 5, 0]));
        Assert.Equal(0, t.NodeForCpus([4, 0]));     // tie: lowest index
        Assert.Equal(0, t.NodeForCpus([]));
        Assert.Equal(0, t.NodeForCpus([99]));       // unknown CPU
        Assert.Equal(1, t.NodeForCpus([12, 13, 14, 15, 99, 100]));
    }

    [Fact]
    public void FallsBackToOneNodeOfOnlineCpus()
    {
        string cpuDir = Path.Combine(_root, "devices", "system", "cpu");
        Directory.CreateDirectory(cpuDir);
        File.WriteAllText(Path.Combine(cpuDir, "online"), "0-2,5\n");

        var t = NumaTopology.Read(_root);

        Assert.True(t.IsFallback);
        Assert.Equal(1, t.NodeCount);
        Assert.Equal([0, 1, 2, 5], t.CpusOf(0).ToArray());
        Assert.Equal(0, t.NodeForCpus([5]));
    }

    [Fact]
    public void FallsBackToProcessorCountWithoutSysfs()
    {
        var t = NumaTopology.Read(Path.Combine(_root, "absent"));

        Assert.True(t.IsFallback);
        Assert.Equal(Enumerable.Range(0, Environment.ProcessorCount), t.CpusOf(0).ToArray());
    }

    [Fact]
    public void NodesWithoutCpusOnlyFallBack()
    {
        WriteNode("node0", "\n");
        var t = NumaTopology.Read(_root);
        Assert.True(t.IsFallback);
    }

    [Fact]
    public void ReadsThisMachine()
    {
        var t = NumaTopology.Read();
        Assert.True(t.NodeCount >= 1);
        int cpu = Interop.CpuAffinity.GetCurrentCpu();
        Assert.InRange(t.NodeOfCpu(cpu), 0, t.NodeCount - 1);
    }

    [Fact]
    public void FromNodesRejectsSharedCpus() =>
        Assert.Throws<ArgumentException>(() => NumaTopology.FromNodes([0, 1], [1, 2]));
}
