namespace LoopOrder.Service.Tests.Daemon;

/// <summary>Every option says its default in --help (the file, which has none, says what it is).</summary>
public sealed class HelpTests
{
    [Theory]
    [InlineData("serve")]
    [InlineData("add")]
    [InlineData("del")]
    [InlineData("list")]
    [InlineData("stats")]
    [InlineData("recover")]
    public void Every_option_documents_its_default(string command)
    {
        using var output = new StringWriter();
        int code = Program.Run([command, "--help"], output, new StringWriter());
        Assert.Equal(0, code);
        string help = output.ToString();
        string[] options = [.. help.Split('\n').Where(l => l.TrimStart().StartsWith("--", StringComparison.Ordinal) || l.TrimStart().StartsWith("-", StringComparison.Ordinal))];
        Assert.NotEmpty(options);
        foreach (string line in options)
        {
            string name = line.Trim().Split(' ', ',')[0];
            if (name is "-?" or "-h" or "--help" or "-f" or "--file")
            {
                continue;
            }

            Assert.True(
                line.Contains("default", StringComparison.OrdinalIgnoreCase),
                $"{command}: '{line.Trim()}' does not say its default");
        }
    }
}
