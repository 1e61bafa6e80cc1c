namespace LoopOrder.Interop.Tests;

/// <summary>A uniquely named file under the temp directory, deleted on dispose.</summary>
internal sealed class TempFile : IDisposable
{
    public TempFile(string tag = "file")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"looporder-interop-{tag}-{Guid.NewGuid():N}");
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            File.Delete(Path);
        }
        catch (IOException)
        {
        }
    }
}
