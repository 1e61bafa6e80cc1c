using System.Diagnostics;
using LoopOrder.Interop;

namespace LoopOrder.Interop.Tests;

public sealed class ProcessesTests
{
    [Fact]
    public void This_process_is_alive_and_a_reaped_child_is_not()
    {
        Assert.True(Processes.IsAlive(Environment.ProcessId));
        using var child = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        child.WaitForExit();
        Assert.False(Processes.IsAlive(child.Id), "a reaped child's pid still counts as alive");
    }

    [Fact]
    public void The_effective_user_id_is_the_one_proc_self_status_reports()
    {
        // "Uid:\treal\teffective\tsaved\tfilesystem"
        string owner = File.ReadAllText("/proc/self/status").Split('\n').First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[2];
        Assert.Equal(owner, Processes.EffectiveUserId.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
