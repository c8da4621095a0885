using Pounce.Cli.Commands;

namespace Pounce.Cli;

/// <summary>The <c>pounce</c> command.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // Pounce's library reads POUNCE_* variables too; this tells it POUNCE_URLS is the command's (no warning).
        AppContext.SetSwitch(Pounce.Hosting.PounceEnvironment.CommandSwitch, true);
        return new PounceCommand().Invoke(args);
    }
}
