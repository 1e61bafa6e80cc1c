namespace LoopOrder.Interop.Tests;

/// <summary>
/// FICLONE on whatever filesystem holds the temp directory: a clone with the source's bytes where
/// it has reflinks (btrfs, xfs), else one of the errnos that mean "no reflink here" with the
/// destination left empty. A descriptor that is not a file is a real failure, not "unsupported".
/// </summary>
public sealed class ReflinkTests
{
    [Fact]
    public void A_clone_has_the_source_bytes_or_the_filesystem_says_it_has_no_reflink()
    {
        using var source = new TempFile("reflink-src");
        using var destination = new TempFile("reflink-dst");
        byte[] data = new byte[8192];
        new Random(15).NextBytes(data);
        File.WriteAllBytes(source.Path, data);
        using SafeFileDescriptor src = FileDescriptor.Open(source.Path, OpenFlags.ReadOnly);
        using SafeFileDescriptor dst = FileDescriptor.Open(destination.Path, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive);

        Errno errno = Reflink.TryClone(dst, src);

        if (errno == Errno.None)
        {
            Assert.Equal(data, File.ReadAllBytes(destination.Path));
        }
        else
        {
            Assert.True(Reflink.IsUnsupported(errno), errno.Describe());
            Assert.Equal(0, new FileInfo(destination.Path).Length);
        }
    }

    [Fact]
    public void A_bad_descriptor_is_a_failure_not_a_missing_feature()
    {
        using var destination = new TempFile("reflink-bad");
        using SafeFileDescriptor dst = FileDescriptor.Open(destination.Path, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive);
        using var closed = new SafeFileDescriptor(int.MaxValue, ownsHandle: false);

        Errno errno = Reflink.TryClone(dst, closed);

        Assert.Equal(Errno.EBADF, errno);
        Assert.False(Reflink.IsUnsupported(errno));
    }
}
