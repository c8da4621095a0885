using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace Pounce.Cli.Hosting;

/// <summary>
/// Loads an application and its own dependencies from the application's directory (as its deps.json says), while
/// every shared-framework assembly (System.*, Microsoft.AspNetCore.*, Microsoft.Extensions.*) and Pounce itself come
/// from the default context, so that <c>IServer</c>, <c>IHostBuilder</c> and friends are the same types on both sides.
/// </summary>
internal sealed class AppLoadContext : AssemblyLoadContext
{
    private static readonly HashSet<string> SharedAssemblies = FindSharedAssemblies();
    private readonly AssemblyDependencyResolver _resolver;

    public AppLoadContext(string appPath)
        : base("pounce app: " + Path.GetFileNameWithoutExtension(appPath), isCollectible: false)
    {
        _resolver = new AssemblyDependencyResolver(appPath);
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        if (assemblyName.Name is null || SharedAssemblies.Contains(assemblyName.Name))
            return null;
        var path = _resolver.ResolveAssemblyToPath(assemblyName);
        return path is null ? null : LoadFromAssemblyPath(path);
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        var path = _resolver.ResolveUnmanagedDllToPath(unmanagedDllName);
        return path is null ? IntPtr.Zero : LoadUnmanagedDllFromPath(path);
    }

    /// <summary>Names of the trusted platform assemblies that live in a shared framework folder, plus Pounce.</summary>
    private static HashSet<string> FindSharedAssemblies()
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        // .../dotnet/shared/Microsoft.NETCore.App/10.0.x/ → .../dotnet/shared/
        var sharedRoot = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", ".."));
        if (!sharedRoot.EndsWith(Path.DirectorySeparatorChar))
            sharedRoot += Path.DirectorySeparatorChar;
        if (AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") is string tpa)
        {
            foreach (var path in tpa.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            {
                if (Path.GetFullPath(path).StartsWith(sharedRoot, StringComparison.Ordinal))
                    names.Add(Path.GetFileNameWithoutExtension(path));
            }
        }
        names.Add(typeof(ServerConfig).Assembly.GetName().Name!);
        return names;
    }
}
