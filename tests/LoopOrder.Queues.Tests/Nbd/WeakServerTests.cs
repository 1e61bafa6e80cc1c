using LoopOrder.Queues.Targets.Nbd;
using LoopOrder.Verification.Mutants;

namespace LoopOrder.Queues.Tests.Nbd;

/// <summary>
/// A deliberately weak server (issue 17, seed 002): nbdkit's sh plugin keeping a write cache per
/// connection that only that connection's flush writes back, and not stating multi-conn. The
/// device's flush must make writes sent on every connection durable, checked in the server's
/// backing file directly; a client flushing one connection only (the
/// <see cref="NbdMutant.FlushOneConnection"/> mutant) must lose some, or the test could not fail.
/// </summary>
public sealed class WeakServerTests
{
    private const int Block = 4096;
    private const int Writes = 8;

    /// <summary>
    /// The server: per connection ($2, a directory of its own) a sparse cache file and a log of
    /// the ranges written to it; a read sees the disk overlaid by the connection's own cache; a
    /// flush copies the logged ranges to the disk; a closed connection's cache is dropped.
    /// </summary>
    private const string Script = """
        #!/bin/bash
        disk='@DISK@'
        case "$1" in
          open) mktemp -d "$tmpdir/conn-XXXXXX" ;;
          close) rm -rf "$2" ;;
          get_size) stat -c %s "$disk" ;;
          can_write|can_flush) exit 0 ;;
          can_multi_conn|can_trim|can_zero|can_extents) exit 3 ;;
          can_fua) echo none ;;
          pwrite)
            dd of="$2/cache" bs="$3" count=1 iflag=fullblock seek="$4" oflag=seek_bytes conv=notrunc status=none || exit 1
            echo "$4 $3" >> "$2/log" ;;
          flush)
            if [ -f "$2/log" ]; then
              while read -r o c; do
                dd if="$2/cache" of="$disk" bs="$c" count=1 skip="$o" seek="$o" iflag=skip_bytes oflag=seek_bytes conv=notrunc status=none || exit 1
              done < "$2/log"
              : > "$2/log"
            fi ;;
          pread)
            t="$2/read.$$"
            dd if="$disk" of="$t" bs="$3" count=1 skip="$4" iflag=skip_bytes status=none || exit 1
            if [ -f "$2/log" ]; then
              while read -r o c; do
                s=$(( o > $4 ? o : $4 )); e=$(( o + c < $4 + $3 ? o + c : $4 + $3 ))
                if [ "$s" -lt "$e" ]; then
                  dd if="$2/cache" of="$t" bs=$(( e - s )) count=1 skip="$s" seek=$(( s - $4 )) iflag=skip_bytes oflag=seek_bytes conv=notrunc status=none || exit 1
                fi
              done < "$2/log"
            fi
            cat "$t"; rm -f "$t" ;;
          *) exit 2 ;;
        esac
        """;

    [Fact]
    public void A_device_flush_makes_writes_on_every_connection_durable_on_a_server_with_a_cache_per_connection()
    {
        Assert.Equal(0, LostAfterFlush(NbdMutant.None, out int connectionsWritten));
        Assert.Equal(2, connectionsWritten);
    }

    [Fact]
    public void A_client_flushing_one_connection_only_loses_the_writes_of_the_other()
    {
        // The test above could fail: with the mutant, the writes the unflushed connection carried
        // are not in the backing file although the flush succeeded.
        int lost = LostAfterFlush(NbdMutant.FlushOneConnection, out int connectionsWritten);
        Assert.Equal(2, connectionsWritten);
        Assert.InRange(lost, 1, Writes - 1);
    }

    /// <summary>Writes <see cref="Writes"/> blocks through the engine over 2 connections, flushes, and counts the blocks missing from the server's disk.</summary>
    private static int LostAfterFlush(NbdMutant mutant, out int connectionsWritten)
    {
        string dir = NbdTestServer.NewDir();
        string disk = NbdBackendTests.CreateDisk(dir, 1 << 20);
        string script = Path.Combine(dir, "weak.sh");
        File.WriteAllText(script, Script.Replace("@DISK@", disk, StringComparison.Ordinal));
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using NbdTestServer server = NbdTestServer.NbdkitIn(dir, "sh", script);
        using var d = new NbdDevice(new NbdBackendOptions { Uri = server.Uri(), Connections = 2, Mutant = mutant.Policy() });
        Assert.False(d.Backend.Export.CanMultiConn);
        Assert.True(d.Backend.Export.CanFlush);
        for (int i = 0; i < Writes; i++)
        {
            Assert.Equal(Block, d.Write((long)i * Block, NbdDevice.Pattern(i, Block)));
        }

        connectionsWritten = Enumerable.Range(0, d.Backend.Set.Count).Count(i => d.Backend.Set[i].CommandsSent > 0);

        // Before the flush the writes sit in the connections' caches, not on the disk: the server is as weak as intended.
        Assert.Equal(new byte[Writes * Block], File.ReadAllBytes(disk).AsSpan(0, Writes * Block).ToArray());
        Assert.Equal(0, d.Flush());

        byte[] file = File.ReadAllBytes(disk);
        int lost = 0;
        for (int i = 0; i < Writes; i++)
        {
            if (!file.AsSpan(i * Block, Block).SequenceEqual(NbdDevice.Pattern(i, Block)))
            {
                lost++;
            }
        }

        return lost;
    }
}
