using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using Pounce.Cli.Settings;

namespace Pounce.Cli.Commands;

/// <summary>
/// The command line: <c>pounce [serve] [APP] [options] [-- APP-ARGS]</c> and <c>pounce config show [APP] [options]</c>.
/// Every <see cref="ServerConfig"/> setting is an option on every command.
/// </summary>
internal sealed class PounceCommand
{
    private readonly Dictionary<Setting, Option<string>> _valueOptions = [];
    private readonly Dictionary<Setting, (Option<bool> On, Option<bool> Off)> _switches = [];
    private readonly Dictionary<Command, (Argument<string> App, Argument<string[]> AppArgs)> _arguments = [];

    public PounceCommand()
    {
        Root = new RootCommand("Serve an ASP.NET Core application, or a built-in demo app, on the Pounce HTTP server.");
        foreach (var setting in Setting.All)
        {
            if (setting.IsSwitch)
            {
                var on = new Option<bool>(setting.Flag) { Arity = ArgumentArity.ZeroOrOne, Description = setting.Doc.Description, Recursive = true };
                var off = new Option<bool>(setting.NegatedFlag!) { Arity = ArgumentArity.Zero, Description = "turn " + setting.Flag + " off", Recursive = true };
                Root.Add(on);
                Root.Add(off);
                _switches[setting] = (on, off);
            }
            else
            {
                var option = new Option<string>(setting.Flag) { HelpName = setting.Doc.ValueName, Description = setting.Doc.Description, Recursive = true };
                Root.Add(option);
                _valueOptions[setting] = option;
            }
        }

        AddAppArguments(Root);
        Root.SetAction(result => ServeCommand.Run(this, result));

        Serve = new Command("serve", "Serve APP, or the demo app when no APP is given (the default command).");
        AddAppArguments(Serve);
        Serve.SetAction(result => ServeCommand.Run(this, result));
        Root.Add(Serve);

        Config = new Command("config", "Inspect settings.");
        Config.SetAction(_ =>
        {
            Console.Error.WriteLine("pounce: 'config' needs a subcommand: try 'pounce config show'");
            return ExitCodes.Usage;
        });
        ConfigShow = new Command("show", "Print the effective settings and where each came from (default, appsettings.json, env, flag).");
        AddAppArguments(ConfigShow);
        ConfigShow.SetAction(result => ConfigShowCommand.Run(this, result));
        Config.Add(ConfigShow);
        Root.Add(Config);

        Logs = new Logs.LogsCommand().Command;
        Root.Add(Logs);

        foreach (var option in Root.Options)
        {
            if (option is HelpOption help)
                help.Action = new HelpTextAction(this);
        }
    }

    public RootCommand Root { get; }

    public Command Serve { get; }

    public Command Config { get; }

    public Command ConfigShow { get; }

    /// <summary><c>pounce logs</c> and its views.</summary>
    public Command Logs { get; }

    private void AddAppArguments(Command command)
    {
        var app = new Argument<string>("APP")
        {
            Arity = ArgumentArity.ZeroOrOne,
            Description = "path to an ASP.NET Core app's built .dll; without it, the demo app is served",
        };
        var appArgs = new Argument<string[]>("APP-ARGS")
        {
            Arity = ArgumentArity.ZeroOrMore,
            Description = "arguments for the app's Main, after '--'",
        };
        command.Add(app);
        command.Add(appArgs);
        _arguments[command] = (app, appArgs);
    }

    /// <summary>The APP path given to the invoked command, or null.</summary>
    public string? AppPath(ParseResult result)
        => _arguments.TryGetValue(result.CommandResult.Command, out var a) ? result.GetValue(a.App) : null;

    /// <summary>The arguments for the app's Main.</summary>
    public string[] AppArgs(ParseResult result)
        => _arguments.TryGetValue(result.CommandResult.Command, out var a) ? result.GetValue(a.AppArgs) ?? [] : [];

    /// <summary>The settings given as flags, as text.</summary>
    public Dictionary<Setting, FlagValue> Flags(ParseResult result)
    {
        var flags = new Dictionary<Setting, FlagValue>();
        foreach (var (setting, option) in _valueOptions)
        {
            if (result.GetResult(option) is { Implicit: false })
                flags[setting] = new FlagValue(result.GetValue(option) ?? "", setting.Flag);
        }
        foreach (var (setting, (on, off)) in _switches)
        {
            // --x, --x true, --x false (the value is optional) and --no-x.
            var isOn = result.GetResult(on) is { Implicit: false };
            var isOff = result.GetResult(off) is { Implicit: false };
            if (isOn && isOff)
                throw new SettingsException($"{setting.Flag} and {setting.NegatedFlag} contradict each other: give one");
            if (isOn)
                flags[setting] = new FlagValue(result.GetValue(on) ? "true" : "false", setting.Flag);
            else if (isOff)
                flags[setting] = new FlagValue("false", setting.NegatedFlag!);
        }
        return flags;
    }

    /// <summary>Parses and runs; parse errors are one line on standard error and exit code 2.</summary>
    public int Invoke(string[] args)
    {
        var result = Root.Parse(args);
        if (result.Action is ParseErrorAction || (result.Errors.Count > 0 && result.Action is not HelpTextAction))
        {
            var message = result.Errors.Count > 0 ? result.Errors[0].Message : "invalid command line";
            Console.Error.WriteLine($"pounce: {message.TrimEnd('.')} (see 'pounce --help')");
            return ExitCodes.Usage;
        }
        var unknown = UnknownOption(args, result);
        if (unknown is not null)
        {
            Console.Error.WriteLine($"pounce: unknown option '{unknown}' (see 'pounce --help'; arguments for the app go after '--')");
            return ExitCodes.Usage;
        }
        // No Ctrl-C handling of System.CommandLine's own: the host stops gracefully on the first signal.
        return result.Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
    }

    /// <summary>
    /// A word that looks like an option but that the parser took as APP or APP-ARGS because no option has that name;
    /// only words after '--' may look like options.
    /// </summary>
    private string? UnknownOption(string[] args, ParseResult result)
    {
        var doubleDash = Array.IndexOf(args, "--");
        var beforeDoubleDash = doubleDash < 0 ? args : args[..doubleDash];
        var candidates = new List<string>();
        if (AppPath(result) is { } app)
            candidates.Add(app);
        candidates.AddRange(AppArgs(result));
        return candidates.FirstOrDefault(c => c.Length > 1 && c[0] == '-' && beforeDoubleDash.Contains(c));
    }

    /// <summary>Writes <see cref="HelpText"/> for the command asked about.</summary>
    private sealed class HelpTextAction(PounceCommand command) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            var invoked = parseResult.CommandResult.Command;
            var text = invoked == command.ConfigShow || invoked == command.Config
                ? HelpText.ConfigShow()
                : invoked == command.Logs || command.Logs.Subcommands.Contains(invoked)
                    ? Pounce.Cli.Logs.LogsHelp.Text()
                    : HelpText.Serve();
            Console.Out.Write(text);
            return ExitCodes.Ok;
        }
    }
}

/// <summary>Exit codes of the command.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int Usage = 2;
}
