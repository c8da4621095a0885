using System.Reflection;
using Microsoft.Extensions.Hosting;
using Pounce.Cli.Settings;

namespace Pounce.Cli.Hosting;

/// <summary>
/// Runs an unchanged ASP.NET Core application (its built .dll) with Pounce as its server: loads it in its own
/// <see cref="AppLoadContext"/>, hooks the moment it builds its host to register Pounce and the command's settings,
/// then calls its entry point.
/// </summary>
internal static class AppRunner
{
    public static int Run(string appPath, string[] appArgs, EffectiveSettings settings)
    {
        var context = new AppLoadContext(appPath);
        Assembly assembly;
        try
        {
            assembly = context.LoadFromAssemblyPath(appPath);
        }
        catch (BadImageFormatException)
        {
            throw new SettingsException($"'{appPath}' is not a .NET assembly: APP must be the path to an ASP.NET Core app's built .dll");
        }
        var entryPoint = assembly.EntryPoint
            ?? throw new SettingsException($"'{appPath}' has no entry point: APP must be an application, not a library");

        using var hook = new HostBuildingHook(builder => builder.ConfigureServices(services =>
        {
            PounceComposition.AddPounceServer(services, settings);
            PounceComposition.AddCommandServices(services, settings, Path.GetFileName(appPath));
        }));

        // Make the process look, to the app, like its own: it finds appsettings.json, wwwroot and the like from its
        // content root (the current directory unless it says otherwise) or from AppContext.BaseDirectory; and hosting
        // names the application after the entry assembly (controllers, user secrets, IWebHostEnvironment.ApplicationName).
        var appDirectory = Path.GetDirectoryName(appPath)!;
        Directory.SetCurrentDirectory(appDirectory);
        AppContext.SetData("APP_CONTEXT_BASE_DIRECTORY", Path.EndsInDirectorySeparator(appDirectory) ? appDirectory : appDirectory + Path.DirectorySeparatorChar);
        Assembly.SetEntryAssembly(assembly);
        int exitCode;
        using (context.EnterContextualReflection())
        {
            object? result;
            try
            {
                result = entryPoint.Invoke(null, entryPoint.GetParameters().Length == 0 ? null : [appArgs]);
                exitCode = result switch
                {
                    Task<int> task => task.GetAwaiter().GetResult(),
                    Task task => Complete(task),
                    int code => code,
                    _ => Environment.ExitCode,
                };
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                throw new AppFailedException(e.InnerException);
            }
            catch (Exception e) when (e is not SettingsException)
            {
                throw new AppFailedException(e);
            }
        }

        if (!hook.Applied)
            Console.Error.WriteLine($"pounce: warning: {Path.GetFileName(appPath)} exited without building a .NET host, so nothing was served");
        return exitCode;
    }

    private static int Complete(Task task)
    {
        task.GetAwaiter().GetResult();
        return Environment.ExitCode;
    }
}

/// <summary>The application threw out of its entry point (for example, the server failed to start).</summary>
internal sealed class AppFailedException(Exception inner) : Exception(inner.Message, inner);
