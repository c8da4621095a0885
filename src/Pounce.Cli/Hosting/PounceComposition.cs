using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Pounce.Cli.Settings;
using Pounce.Hosting;
using Pounce.Logging;
using Pounce.Telemetry;

namespace Pounce.Cli.Hosting;

/// <summary>What the command adds to a host it runs: Pounce as the server, its settings, its logging, the start-up line.</summary>
internal static class PounceComposition
{
    /// <summary>
    /// Registers Pounce in <paramref name="services"/> with the command's settings, after whatever the app registered,
    /// so it wins over Kestrel.
    /// </summary>
    public static void AddPounceServer(IServiceCollection services, EffectiveSettings settings)
    {
        // What the app's configuration says (Kestrel:Endpoints, Pounce:Endpoints, Kestrel:Certificates:Default), then the
        // command's settings, which win.
        services.AddOptions<ServerConfig>().Configure<IConfiguration>((config, configuration) =>
        {
            PounceWebHostBuilderExtensions.ReadConfiguration(config, configuration);
            settings.ApplyTo(config);
        });
        services.AddPounceLogging();
        PounceOpenTelemetry.AddIfConfigured(services, settings.Config);
        services.AddSingleton<PounceServer>();
        services.AddSingleton<IServer>(sp =>
        {
            var server = sp.GetRequiredService<PounceServer>();
            PresetAddresses(server, settings);
            return server;
        });
    }

    /// <summary>Registrations common to the demo and to an app: start-up line, logging output, shutdown budget.</summary>
    public static void AddCommandServices(IServiceCollection services, EffectiveSettings settings, string appName)
    {
        services.AddSingleton(settings);
        services.AddSingleton(new ServedApp(appName));
        services.AddHostedService<StartupAnnouncement>();
        StartupErrors.Add(services);
        // The host must give the server its whole drain time (plus a little) before it gives up on StopAsync.
        services.Configure<HostOptions>(options =>
        {
            var needed = settings.Config.ShutdownTimeout + TimeSpan.FromSeconds(5);
            if (options.ShutdownTimeout < needed)
                options.ShutdownTimeout = needed;
        });
    }

    /// <summary>
    /// The command's addresses (<see cref="EffectiveSettings.BindingUrls"/>) win over any the app configured: they
    /// are put in the server's address list before the host reads its own "urls" setting, which it only does when
    /// the list is empty.
    /// </summary>
    private static void PresetAddresses(IServer server, EffectiveSettings settings)
    {
        if (settings.BindingUrls.Count == 0)
            return;
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses;
        if (addresses is null || addresses.IsReadOnly || addresses.Count > 0)
            return;
        foreach (var url in settings.BindingUrls)
            addresses.Add(url);
        // They win over the app's configured endpoints too (Kestrel:Endpoints), as UseUrls + PreferHostingUrls does.
        server.Features.Get<IServerAddressesFeature>()!.PreferHostingUrls = true;
    }

}

/// <summary>What is being served: <c>demo</c> or the app's file name, for the start-up line.</summary>
internal sealed record ServedApp(string Name);
