namespace Pounce.Cli.Tests;

/// <summary>The minimum data rate settings (Kestrel's) as flags, environment variables, and checked values.</summary>
public sealed class DataRateSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pounce-cli-rates-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Rates_and_grace_periods_have_flags_env_vars_and_kestrel_defaults()
    {
        var defaults = await PounceProcess.RunAsync(["config", "show"], _dir);
        Assert.Equal(0, defaults.ExitCode);
        Assert.Equal(("240", "default"), CommandLineTests.Row(defaults.Stdout, "--min-request-body-data-rate"));
        Assert.Equal(("5", "default"), CommandLineTests.Row(defaults.Stdout, "--min-request-body-data-rate-grace-period"));
        Assert.Equal(("240", "default"), CommandLineTests.Row(defaults.Stdout, "--min-response-data-rate"));
        Assert.Equal(("5", "default"), CommandLineTests.Row(defaults.Stdout, "--min-response-data-rate-grace-period"));

        var set = await PounceProcess.RunAsync(["config", "show", "--min-request-body-data-rate", "0", "--min-response-data-rate-grace-period", "2.5"], _dir,
            new Dictionary<string, string> { ["POUNCE_MIN_RESPONSE_DATA_RATE"] = "1000" });
        Assert.Equal(0, set.ExitCode);
        Assert.Equal(("0", "flag --min-request-body-data-rate"), CommandLineTests.Row(set.Stdout, "--min-request-body-data-rate"));
        Assert.Equal(("2.5", "flag --min-response-data-rate-grace-period"), CommandLineTests.Row(set.Stdout, "--min-response-data-rate-grace-period"));
        Assert.Equal(("1000", "env POUNCE_MIN_RESPONSE_DATA_RATE"), CommandLineTests.Row(set.Stdout, "--min-response-data-rate"));
    }

    [Theory]
    [InlineData("--min-request-body-data-rate", "slow", "pounce: invalid value 'slow' for --min-request-body-data-rate")]
    [InlineData("--min-request-body-data-rate", "-5", "pounce: invalid value '-5' for --min-request-body-data-rate: expected 0 (off) or a positive number of bytes per second")]
    [InlineData("--min-response-data-rate-grace-period", "0.5", "pounce: invalid value '0.5' for --min-response-data-rate-grace-period: expected more than 1 and at most 86400 seconds")]
    public async Task A_bad_rate_exits_2_with_one_line(string flag, string value, string expected)
    {
        var (code, _, stderr) = await PounceProcess.RunAsync(["config", "show", flag, value], _dir);
        Assert.Equal(2, code);
        Assert.StartsWith(expected, Assert.Single(stderr), StringComparison.Ordinal);
    }
}
