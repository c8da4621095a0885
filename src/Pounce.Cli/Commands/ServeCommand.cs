using System.CommandLine;
using Pounce.Cli.Demo;
using Pounce.Cli.Hosting;
using Pounce.Cli.Settings;
using Pounce.Hosting;

namespace Pounce.Cli.Commands;

/// <summary><c>pounce [serve] [APP]</c>: resolve the settings, then serve the demo app or APP until a signal stops it.</summary>
internal static class ServeCommand
{
    public static int Run(PounceCommand command, ParseResult result)
    {
        string? appPath = null;
        try
        {
            var flags = command.Flags(result);
            appPath = ResolveAppPath(command.AppPath(result));
            var appArgs = command.AppArgs(result);
            if (appPath is null && appArgs.Length > 0)
                throw new SettingsException($"unexpected argument '{appArgs[0]}': arguments after APP are for the app, and there is no APP");
            var workingDirectory = Directory.GetCurrentDirectory();
            var settings = EffectiveSettings.Resolve(
                flags,
                appPath is null ? workingDirectory : Path.GetDirectoryName(appPath)!,
                Environment.GetEnvironmentVariable,
                workingDirectory);

            using var signals = new SignalExit();
            if (appPath is not null)
                return AppRunner.Run(appPath, appArgs, settings);

            using var demo = DemoApp.Build(settings);
            demo.Run();
            return ExitCodes.Ok;
        }
        catch (SettingsException e)
        {
            Console.Error.WriteLine("pounce: " + e.Message);
            return ExitCodes.Usage;
        }
        catch (Exception e) when (ConfigurationError(e) is { } configuration)
        {
            // A certificate that cannot be loaded, an https:// URL without one, an endpoint Pounce cannot serve: a
            // usage error, one line, like a bad flag.
            Console.Error.WriteLine("pounce: " + FirstLine(configuration.Message));
            return ExitCodes.Usage;
        }
        catch (Exception e) when (BindError(e) is { } bind)
        {
            Console.Error.WriteLine("pounce: " + FirstLine(bind.Message));
            return ExitCodes.Failure;
        }
        catch (AppFailedException e)
        {
            var inner = e.InnerException!;
            Console.Error.WriteLine($"pounce: {Path.GetFileName(appPath)} failed: {inner.GetType().Name}: {FirstLine(inner.Message)}");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (appPath is null)
        {
            Console.Error.WriteLine($"pounce: the demo app failed: {e.GetType().Name}: {FirstLine(e.Message)}");
            return ExitCodes.Failure;
        }
    }

    /// <summary>The full path of APP, checked to be a file; null when no APP was given.</summary>
    public static string? ResolveAppPath(string? app)
    {
        if (string.IsNullOrEmpty(app))
            return null;
        var path = Path.GetFullPath(app);
        if (Directory.Exists(path))
            throw new SettingsException($"'{app}' is a directory: APP must be the path to an ASP.NET Core app's built .dll (e.g. bin/Debug/net10.0/MyApp.dll)");
        if (!File.Exists(path) && !app.Contains('.', StringComparison.Ordinal) && !app.Contains(Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new SettingsException($"'{app}' is neither a command (serve, config show) nor an existing file (see 'pounce --help')");
        if (!File.Exists(path))
            throw new SettingsException($"no such file '{app}': APP must be the path to an ASP.NET Core app's built .dll");
        if (path.EndsWith(".csproj", StringComparison.OrdinalIgnoreCase))
            throw new SettingsException($"'{app}' is a project file: build it, then give the built .dll (e.g. bin/Debug/net10.0/MyApp.dll)");
        return path;
    }

    private static PounceConfigurationException? ConfigurationError(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is PounceConfigurationException found)
                return found;
        }
        return null;
    }

    /// <summary>"Failed to bind to address ...: address already in use." and the like.</summary>
    private static IOException? BindError(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is IOException { InnerException: System.Net.Sockets.SocketException } found)
                return found;
        }
        return null;
    }

    private static string FirstLine(string text)
    {
        var end = text.IndexOfAny(['\r', '\n']);
        return end < 0 ? text : text[..end];
    }
}
