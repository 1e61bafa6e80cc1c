namespace LoopOrder.Service.Tests.Commands;

public sealed class VerifyCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static string LastLine(string text) => text.TrimEnd().Split('\n')[^1];

    [Theory]
    [InlineData("drain")]
    [InlineData("strict")]
    public void Drain_and_strict_verify_clean_and_exit_0(string mode)
    {
        (int code, string output, _) = Run("verify", "--mode", mode, "--seed", "42", "--iterations", "150");

        Assert.Equal(0, code);
        Assert.Equal($"verify: 150 workloads, 0 violations, mode {mode}, seed 42", LastLine(output));
    }

    [Fact]
    public void Mode_none_is_caught_violating_D1_and_exits_1()
    {
        (int code, string output, _) = Run("verify", "--mode", "none", "--seed", "42", "--iterations", "150");

        Assert.Equal(1, code);
        Assert.Contains("D1", output, StringComparison.Ordinal);
        Assert.Matches(@"^verify: 150 workloads, [1-9][0-9]* violations, mode none, seed 42$", LastLine(output));
    }

    [Fact]
    public void A_mutant_is_caught_and_exits_1()
    {
        (int code, string output, _) = Run("verify", "--mode", "strict", "--seed", "3", "--iterations", "100", "--mutant", "strict-no-hold");

        Assert.Equal(1, code);
        Assert.Contains("D2", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("verify", "--mutant", "bogus")]
    [InlineData("verify", "--iterations", "0")]
    [InlineData("verify", "--iterations", "many")]
    [InlineData("verify", "--mode", "sometimes")]
    [InlineData("verify", "--seed", "-1")]
    public void Bad_arguments_exit_64_with_a_message(params string[] args)
    {
        (int code, _, string error) = Run(args);

        Assert.Equal(64, code);
        Assert.NotEqual("", error.Trim());
    }
}
