using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

namespace Pounce.Benchmarks;

/// <summary>
/// Runs the micro-benchmarks. Every BenchmarkDotNet option works (--filter, --list flat, --job ...);
/// in addition --short selects Job.ShortRun (3 warm-ups, 3 iterations, 1 launch) for a quick look.
/// Examples:
///   dotnet run -c Release --project bench/Pounce.Benchmarks -- --list flat
///   dotnet run -c Release --project bench/Pounce.Benchmarks -- --filter '*RequestId*' --short
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var shortRun = args.Contains("--short", StringComparer.Ordinal);
        var rest = args.Where(a => a != "--short").ToArray();

        var config = DefaultConfig.Instance.AddDiagnoser(MemoryDiagnoser.Default);
        if (shortRun)
            config = config.AddJob(Job.ShortRun);

        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest, config);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}
