using Pounce.Cli.Commands;

namespace Pounce.Cli;

/// <summary>The <c>pounce</c> command.</summary>
public static class Program
{
    public static int Main(string[] args) => new PounceCommand().Invoke(args);
}
