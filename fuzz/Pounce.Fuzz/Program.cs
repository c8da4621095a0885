using SharpFuzz;

namespace Pounce.Fuzz;

/// <summary>
/// AFL++ harnesses for Pounce's parsers (SharpFuzz): <c>Pounce.Fuzz TARGET</c> under afl-fuzz, or
/// <c>Pounce.Fuzz TARGET --replay FILE...</c> to run inputs (a crash found, a corpus) without AFL.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine($"usage: Pounce.Fuzz TARGET [--replay FILE...]; targets: {string.Join(", ", ParserContracts.Targets)}");
            return 2;
        }
        var run = ParserContracts.For(args[0]);
        if (args.Length > 1 && args[1] == "--replay")
        {
            var failures = 0;
            foreach (var file in args.Skip(2).SelectMany(p => Directory.Exists(p) ? Directory.GetFiles(p) : [p]))
            {
                try
                {
                    run(File.ReadAllBytes(file));
                }
                catch (ContractViolationException ex)
                {
                    failures++;
                    Console.Error.WriteLine($"{file}: {ex}");
                }
            }
            return failures == 0 ? 0 : 1;
        }
        // Persistent mode: one process runs input after input (the harnesses keep no state between inputs).
        Fuzzer.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            run(buffer.ToArray());
        });
        return 0;
    }
}
