namespace LoopOrder.Interop.Tests;

public class FileDescriptorTests
{
    [Fact]
    public void Open_of_a_missing_file_throws_errno_exception_with_enoent_and_the_path()
    {
        string path = Path.Combine(Path.GetTempPath(), "looporder-missing-" + Guid.NewGuid().ToString("N"), "nothing");
        ErrnoException e = Assert.Throws<ErrnoException>(() => FileDescriptor.Open(path, OpenFlags.ReadWrite));
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal("open", e.Operation);
        Assert.Equal(path, e.Path);
        Assert.Equal($"open {path}: No such file or directory (ENOENT)", e.Message);
        Assert.IsAssignableFrom<IOException>(e);
    }

    [Fact]
    public void Exclusive_create_of_an_existing_file_throws_eexist()
    {
        using var file = new TempFile("excl");
        using (FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create))
        {
        }

        ErrnoException e = Assert.Throws<ErrnoException>(
            () => FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive));
        Assert.Equal(Errno.EEXIST, e.Errno);
    }

    [Fact]
    public void Second_exclusive_lock_fails_with_ewouldblock_until_the_first_is_released()
    {
        using var file = new TempFile("lock");
        using SafeFileDescriptor first = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create);
        using SafeFileDescriptor second = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite);
        FileDescriptor.LockExclusive(first);

        ErrnoException e = Assert.Throws<ErrnoException>(() => FileDescriptor.LockExclusive(second));
        Assert.Equal(Errno.EWOULDBLOCK, e.Errno);
        Assert.Contains("in use", e.Message, StringComparison.Ordinal);
        Assert.Contains(file.Path, e.Message, StringComparison.Ordinal);

        FileDescriptor.Unlock(first);
        FileDescriptor.LockExclusive(second);
        Assert.Throws<ErrnoException>(() => FileDescriptor.LockExclusive(first));
    }

    [Fact]
    public void Lock_is_released_when_the_descriptor_closes()
    {
        using var file = new TempFile("lockclose");
        using SafeFileDescriptor second = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create);
        using (SafeFileDescriptor first = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite))
        {
            FileDescriptor.LockExclusive(first);
            Assert.Throws<ErrnoException>(() => FileDescriptor.LockExclusive(second));
        }

        FileDescriptor.LockExclusive(second);
    }

    [Fact]
    public void Stat_truncate_allocate_pread_pwrite_and_datasync()
    {
        using var file = new TempFile("ops");
        using SafeFileDescriptor fd = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create, 0x180); // 0600
        stat64 st = FileDescriptor.Stat(fd);
        Assert.True(st.IsRegularFile);
        Assert.False(st.IsBlockDevice);
        Assert.Equal(0x180u, st.st_mode & 0x1FF);
        Assert.Equal(0, st.st_size);
        Assert.Equal(new FileInfo(file.Path).Length, st.st_size);

        FileDescriptor.Truncate(fd, 1 << 20);
        Assert.Equal(1 << 20, FileDescriptor.GetSize(fd));
        Assert.Equal(0, FileDescriptor.Stat(fd).st_blocks); // sparse

        FileDescriptor.Allocate(fd, 0, 0, 65536);
        Assert.True(FileDescriptor.Stat(fd).st_blocks >= 65536 / 512);
        Assert.Equal(1 << 20, FileDescriptor.GetSize(fd));

        byte[] data = [1, 2, 3, 4, 5, 6, 7, 8];
        FileDescriptor.PWriteAll(fd, data, 4096 - 3); // straddles a page boundary
        FileDescriptor.DataSync(fd);
        var back = new byte[8];
        FileDescriptor.PReadExactly(fd, back, 4096 - 3);
        Assert.Equal(data, back);
        Assert.Equal(data, File.ReadAllBytes(file.Path).AsSpan(4096 - 3, 8).ToArray());

        // A short read at the end of the file, then 0 past it.
        var tail = new byte[16];
        Assert.Equal(8, FileDescriptor.PRead(fd, tail, (1 << 20) - 8));
        Assert.Equal(0, FileDescriptor.PRead(fd, tail, 1 << 20));
        ErrnoException e = Assert.Throws<ErrnoException>(() => FileDescriptor.PReadExactly(fd, tail, (1 << 20) - 8));
        Assert.Equal(Errno.EIO, e.Errno);

        FileDescriptor.Truncate(fd, 100);
        Assert.Equal(100, FileDescriptor.Stat(fd).st_size);
    }

    [Fact]
    public void Stat_reports_directories_and_get_size_refuses_them()
    {
        string dir = Path.GetTempPath();
        using SafeFileDescriptor fd = FileDescriptor.Open(dir, OpenFlags.ReadOnly);
        Assert.True(FileDescriptor.Stat(fd).IsDirectory);
        ErrnoException e = Assert.Throws<ErrnoException>(() => FileDescriptor.GetSize(fd));
        Assert.Equal(Errno.EINVAL, e.Errno);
    }

    [Fact]
    public void Writing_a_read_only_descriptor_throws_ebadf()
    {
        using var file = new TempFile("ro");
        using (FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create))
        {
        }

        using SafeFileDescriptor fd = FileDescriptor.Open(file.Path, OpenFlags.ReadOnly);
        ErrnoException e = Assert.Throws<ErrnoException>(() => FileDescriptor.PWrite(fd, new byte[1], 0));
        Assert.Equal(Errno.EBADF, e.Errno);
        Assert.StartsWith("pwrite " + file.Path + ": ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Closed_descriptor_is_really_closed()
    {
        using var file = new TempFile("close");
        SafeFileDescriptor fd = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create);
        int raw = fd.RawFd;
        Assert.Equal(file.Path, new FileInfo($"/proc/self/fd/{raw}").LinkTarget);
        fd.Dispose();
        Assert.True(fd.IsClosed);

        // The number no longer names our file: either it is free, or another test's open reused it.
        string? target = new FileInfo($"/proc/self/fd/{raw}").LinkTarget;
        Assert.NotEqual(file.Path, target);
    }

    [Fact]
    public void Mmap_maps_a_file_shared_and_unmaps_on_dispose()
    {
        using var file = new TempFile("mmap");
        using SafeFileDescriptor fd = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create);
        FileDescriptor.PWriteAll(fd, "hello"u8, 4096);
        using (SafeMmapHandle map = SafeMmapHandle.MapShared(fd, 4096, 4096, writable: false, populate: false, "test"))
        {
            unsafe
            {
                Assert.Equal("hello"u8.ToArray(), new ReadOnlySpan<byte>(map.Pointer, 5).ToArray());
            }
        }

        ErrnoException e = Assert.Throws<ErrnoException>(
            () => SafeMmapHandle.MapShared(fd, 4095, 4096, writable: false, populate: false, "misaligned"));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Contains("misaligned", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public unsafe void Anonymous_mapping_is_page_aligned_zeroed_and_writable()
    {
        using SafeMmapHandle map = SafeMmapHandle.MapAnonymous(3 * 4096 + 1, "test buffers");
        Assert.Equal(0, (long)map.Pointer % 4096);
        var span = new Span<byte>(map.Pointer, 3 * 4096 + 1);
        Assert.True(span.IndexOfAnyExcept((byte)0) < 0);
        span.Fill(0xA5);
        Assert.Equal(0xA5, map.Pointer[3 * 4096]);
    }
}
