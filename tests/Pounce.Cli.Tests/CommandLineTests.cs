using System.Reflection;
using System.Text.RegularExpressions;

namespace Pounce.Cli.Tests;

/// <summary>
/// The command line, the environment and appsettings.json, through the real process. None of these needs the server:
/// <c>config show</c>, <c>--help</c> and bad values all end before anything is served.
/// </summary>
public sealed class CommandLineTests(CommandLineTests.DefaultOutputs outputs) : IDisposable, IClassFixture<CommandLineTests.DefaultOutputs>
{
    /// <summary>One run each of <c>--help</c> and <c>config show</c> (in an empty directory), shared by the per-setting tests.</summary>
    public sealed class DefaultOutputs : IDisposable
    {
        private readonly string _dir = Directory.CreateTempSubdirectory("pounce-cli-defaults-").FullName;

        public DefaultOutputs()
        {
            Help = new(() => PounceProcess.RunAsync(["--help"], _dir));
            ConfigShow = new(() => PounceProcess.RunAsync(["config", "show"], _dir));
        }

        public Lazy<Task<(int ExitCode, IReadOnlyList<string> Stdout, IReadOnlyList<string> Stderr)>> Help { get; }

        public Lazy<Task<(int ExitCode, IReadOnlyList<string> Stdout, IReadOnlyList<string> Stderr)>> ConfigShow { get; }

        public void Dispose() => Directory.Delete(_dir, recursive: true);
    }

    private readonly string _dir = Directory.CreateTempSubdirectory("pounce-cli-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Every public settable ServerConfig property, as the flag the command must accept.</summary>
    public static TheoryData<string, string> ServerConfigFlags()
    {
        var data = new TheoryData<string, string>();
        foreach (var p in typeof(ServerConfig).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.SetMethod is not { IsPublic: true })
                continue;
            if (p.PropertyType == typeof(System.Security.Cryptography.X509Certificates.X509Certificate2))
                continue; // ServerCertificate is given in code only
            if (typeof(Delegate).IsAssignableFrom(p.PropertyType))
                continue; // ClientCertificateValidation is a callback, given in code only
            var flag = p.Name switch
            {
                // uvicorn's names, which operators already type
                nameof(ServerConfig.SslCertFile) => "--ssl-certfile",
                nameof(ServerConfig.SslKeyFile) => "--ssl-keyfile",
                _ => "--" + Regex.Replace(p.Name, "(?<=[a-z0-9])([A-Z])", "-$1").ToLowerInvariant(),
            };
            data.Add(p.Name, flag);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ServerConfigFlags))]
    public async Task Every_setting_has_a_flag_in_help_and_in_config_show(string property, string flag)
    {
        var help = await outputs.Help.Value;
        Assert.Equal(0, help.ExitCode);
        Assert.Contains(help.Stdout, l => Regex.IsMatch(l, "^  " + Regex.Escape(flag) + "\\b"));

        var show = await outputs.ConfigShow.Value;
        Assert.Equal(0, show.ExitCode);
        var row = Row(show.Stdout, flag);
        Assert.True(row is not null, $"config show has no row for {property} ({flag}):\n{string.Join('\n', show.Stdout)}");
        Assert.Equal("default", row.Value.Source);
    }

    [Fact]
    public async Task Help_reads_like_a_unix_tools_help()
    {
        var (code, stdout, stderr) = await PounceProcess.RunAsync(["--help"], _dir);
        Assert.Equal(0, code);
        Assert.Empty(stderr);
        var text = string.Join('\n', stdout);
        Assert.StartsWith("Usage: pounce [serve] [APP] [OPTIONS]", text, StringComparison.Ordinal);
        foreach (var heading in new[] { "Commands:", "Binding and workers:", "Limits:", "Timeouts (seconds, decimals allowed):", "Response headers:", "Logging:", "Examples:" })
            Assert.Contains(heading, stdout);
        Assert.Contains("--date-header, --no-date-header", text, StringComparison.Ordinal);
        Assert.Contains("--access-log, --no-access-log", text, StringComparison.Ordinal);
        Assert.Contains("--urls URLS", text, StringComparison.Ordinal);
        Assert.Contains("--log-format text|json", text, StringComparison.Ordinal);
        Assert.Contains("POUNCE_MAX_CONNECTIONS=5", text, StringComparison.Ordinal);
        Assert.Contains("pounce --lifecycle-logging --log-format json --log-level debug", text, StringComparison.Ordinal);
        Assert.All(stdout, l => Assert.True(l.Length <= 110, $"help line too long ({l.Length}): {l}"));

        var serveHelp = await PounceProcess.RunAsync(["serve", "--help"], _dir);
        Assert.Equal(0, serveHelp.ExitCode);
        Assert.Equal(stdout, serveHelp.Stdout);

        var configHelp = await PounceProcess.RunAsync(["config", "show", "--help"], _dir);
        Assert.Equal(0, configHelp.ExitCode);
        Assert.StartsWith("Usage: pounce config show", configHelp.Stdout[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Precedence_is_default_then_appsettings_then_env_then_flag()
    {
        File.WriteAllText(Path.Combine(_dir, "appsettings.json"), """
            {
              "Logging": { "LogLevel": { "Default": "Information" } },
              "Pounce": {
                "Port": 1111,
                "MaxConnections": 7,
                "Workers": 3,
                "LogFormat": "json",
                "KeepAliveTimeout": 2.5,
                "LogLevel": "Warning",
                "DateHeader": false
              }
            }
            """);
        var env = new Dictionary<string, string>
        {
            ["POUNCE_MAX_CONNECTIONS"] = "5",
            ["POUNCE_WORKERS"] = "4",
            ["POUNCE_LOG_LEVEL"] = "debug",
            ["POUNCE_LIFECYCLE_LOGGING"] = "true",
            ["POUNCE_DATE_HEADER"] = "true",
        };

        var (code, stdout, stderr) = await PounceProcess.RunAsync(
            ["config", "show", "--workers", "2", "--header-timeout", "0.5", "--no-date-header", "--urls", "http://127.0.0.1:0"], _dir, env);

        Assert.True(code == 0, string.Join('\n', stderr));
        Assert.Equal(("127.0.0.1", "default"), Row(stdout, "--host"));
        Assert.Equal(("1111", "appsettings.json"), Row(stdout, "--port"));
        Assert.Equal(("json", "appsettings.json"), Row(stdout, "--log-format"));
        Assert.Equal(("2.5", "appsettings.json"), Row(stdout, "--keep-alive-timeout"));
        Assert.Equal(("5", "env POUNCE_MAX_CONNECTIONS"), Row(stdout, "--max-connections"));
        Assert.Equal(("debug", "env POUNCE_LOG_LEVEL"), Row(stdout, "--log-level"));
        Assert.Equal(("true", "env POUNCE_LIFECYCLE_LOGGING"), Row(stdout, "--lifecycle-logging"));
        Assert.Equal(("2", "flag --workers"), Row(stdout, "--workers"));
        Assert.Equal(("0.5", "flag --header-timeout"), Row(stdout, "--header-timeout"));
        Assert.Equal(("false", "flag --no-date-header"), Row(stdout, "--date-header"));
        Assert.Equal(("http://127.0.0.1:0", "flag --urls"), Row(stdout, "--urls"));
        // Off by default since the minimum request body data rate (Kestrel's) replaced it.
        Assert.Equal(("0", "default"), Row(stdout, "--body-read-timeout"));
    }

    [Theory]
    [InlineData(new[] { "--lifecycle-logging" }, "true", "flag --lifecycle-logging")]
    [InlineData(new[] { "--lifecycle-logging", "false" }, "false", "flag --lifecycle-logging")]
    [InlineData(new[] { "--lifecycle-logging=true" }, "true", "flag --lifecycle-logging")]
    [InlineData(new[] { "--no-lifecycle-logging" }, "false", "flag --no-lifecycle-logging")]
    [InlineData(new string[0], "true", "env POUNCE_LIFECYCLE_LOGGING")]
    public async Task Switches_take_an_optional_value_and_have_a_no_form(string[] args, string value, string source)
    {
        var (code, stdout, stderr) = await PounceProcess.RunAsync(["config", "show", .. args], _dir,
            new Dictionary<string, string> { ["POUNCE_LIFECYCLE_LOGGING"] = "on" });
        Assert.True(code == 0, string.Join('\n', stderr));
        Assert.Equal((value, source), Row(stdout, "--lifecycle-logging"));
    }

    [Fact]
    public async Task Appsettings_is_read_from_the_apps_directory_when_an_app_is_given()
    {
        var appDir = Directory.CreateDirectory(Path.Combine(_dir, "app")).FullName;
        File.WriteAllText(Path.Combine(appDir, "MyApp.dll"), "not loaded by config show");
        File.WriteAllText(Path.Combine(appDir, "appsettings.json"), """{ "Pounce": { "ServerHeader": "from-the-app", "HealthCheckPath": "/healthz" } }""");
        File.WriteAllText(Path.Combine(_dir, "appsettings.json"), """{ "Pounce": { "ServerHeader": "from-the-cwd" } }""");

        var inCwd = await PounceProcess.RunAsync(["config", "show"], _dir);
        Assert.Equal(("from-the-cwd", "appsettings.json"), Row(inCwd.Stdout, "--server-header"));

        var forApp = await PounceProcess.RunAsync(["config", "show", Path.Combine("app", "MyApp.dll")], _dir);
        Assert.True(forApp.ExitCode == 0, string.Join('\n', forApp.Stderr));
        Assert.Equal(("from-the-app", "appsettings.json"), Row(forApp.Stdout, "--server-header"));
        Assert.Equal(("/healthz", "appsettings.json"), Row(forApp.Stdout, "--health-check-path"));
    }

    [Theory]
    [InlineData(new[] { "--port", "abc" }, "pounce: invalid value 'abc' for --port: expected an integer 0-65535")]
    [InlineData(new[] { "--port", "70000" }, "pounce: invalid value '70000' for --port: expected an integer 0-65535")]
    [InlineData(new[] { "--workers", "0" }, "pounce: invalid value '0' for --workers: expected an integer 1-1024")]
    [InlineData(new[] { "--max-connections", "0" }, "pounce: invalid value '0' for --max-connections: expected at least 1")]
    [InlineData(new[] { "--keep-alive-timeout", "soon" }, "pounce: invalid value 'soon' for --keep-alive-timeout: expected a number of seconds (decimals allowed)")]
    [InlineData(new[] { "--shutdown-timeout", "-1" }, "pounce: invalid value '-1' for --shutdown-timeout: expected 0 seconds or more")]
    [InlineData(new[] { "--log-format", "xml" }, "pounce: invalid value 'xml' for --log-format: expected text or json")]
    [InlineData(new[] { "--log-level", "verbose" }, "pounce: invalid value 'verbose' for --log-level: expected debug, info, warning, error or critical")]
    [InlineData(new[] { "--log-slow-requests-threshold", "0" }, "pounce: invalid value '0' for --log-slow-requests-threshold: expected a number of seconds greater than 0")]
    [InlineData(new[] { "--health-check-path", "health" }, "pounce: invalid value 'health' for --health-check-path: expected a path starting with '/'")]
    [InlineData(new[] { "serve", "--max-request-line-size", "10" }, "pounce: invalid value '10' for --max-request-line-size: expected at least 64 bytes")]
    [InlineData(new[] { "--access-log", "--no-access-log" }, "pounce: --access-log and --no-access-log contradict each other")]
    [InlineData(new[] { "--urls", "localhost:80" }, "pounce: invalid value 'localhost:80' for --urls: expected URLs like http://127.0.0.1:8000, separated by ';'")]
    [InlineData(new[] { "--bogus" }, "pounce: unknown option '--bogus'")]
    [InlineData(new[] { "--port" }, "pounce: Required argument missing for option: '--port'")]
    [InlineData(new[] { "no-such-app.dll" }, "pounce: no such file 'no-such-app.dll'")]
    [InlineData(new[] { "sevre" }, "pounce: 'sevre' is neither a command (serve, config show) nor an existing file")]
    public async Task A_bad_value_exits_2_with_one_line_naming_flag_value_and_what_is_allowed(string[] args, string expected)
    {
        // Same for serving and for config show: the settings are checked before anything starts.
        foreach (var command in new[] { args, ["config", "show", .. args.Where(a => a != "serve")] })
        {
            var (code, stdout, stderr) = await PounceProcess.RunAsync(command, _dir);
            Assert.True(code == 2, $"pounce {string.Join(' ', command)} exited {code}, expected 2; stderr: {string.Join('\n', stderr)}");
            Assert.Empty(stdout);
            var line = Assert.Single(stderr);
            Assert.StartsWith(expected, line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Bad_values_from_the_environment_and_appsettings_name_their_source()
    {
        var fromEnv = await PounceProcess.RunAsync(["config", "show"], _dir, new Dictionary<string, string> { ["POUNCE_MAX_CONNECTIONS"] = "many" });
        Assert.Equal(2, fromEnv.ExitCode);
        Assert.Equal("pounce: invalid value 'many' for POUNCE_MAX_CONNECTIONS: expected an integer", Assert.Single(fromEnv.Stderr));

        var validatedEnv = await PounceProcess.RunAsync(["--port", "0"], _dir, new Dictionary<string, string> { ["POUNCE_LOG_BUFFER_LINES"] = "1" });
        Assert.Equal(2, validatedEnv.ExitCode);
        Assert.Equal("pounce: invalid value '1' for POUNCE_LOG_BUFFER_LINES: expected at least 16", Assert.Single(validatedEnv.Stderr));

        File.WriteAllText(Path.Combine(_dir, "appsettings.json"), """{ "Pounce": { "LogFormat": "yaml" } }""");
        var fromFile = await PounceProcess.RunAsync(["config", "show"], _dir);
        Assert.Equal(2, fromFile.ExitCode);
        var line = Assert.Single(fromFile.Stderr);
        Assert.StartsWith("pounce: invalid value 'yaml' for Pounce:LogFormat in ", line, StringComparison.Ordinal);
        Assert.EndsWith("appsettings.json: expected text or json", line, StringComparison.Ordinal);

        // Only the effective value is validated: a flag replaces an env value that Validate() would reject.
        File.Delete(Path.Combine(_dir, "appsettings.json"));
        var clean = await PounceProcess.RunAsync(["config", "show", "--log-buffer-lines", "64"], _dir,
            new Dictionary<string, string> { ["POUNCE_LOG_BUFFER_LINES"] = "1" });
        Assert.True(clean.ExitCode == 0, string.Join('\n', clean.Stderr));
        Assert.Equal(("64", "flag --log-buffer-lines"), Row(clean.Stdout, "--log-buffer-lines"));
    }

    [Fact]
    public async Task An_app_that_is_not_an_application_is_refused_before_anything_starts()
    {
        var notAssembly = Path.Combine(_dir, "NotAnAssembly.dll");
        File.WriteAllText(notAssembly, "plain text");
        var (code, stdout, stderr) = await PounceProcess.RunAsync([notAssembly, "--port", "0"], _dir);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Contains("is not a .NET assembly", Assert.Single(stderr), StringComparison.Ordinal);

        // Pounce.dll is a library: no entry point.
        var library = typeof(ServerConfig).Assembly.Location;
        (code, stdout, stderr) = await PounceProcess.RunAsync([library, "--port", "0"], _dir);
        Assert.Equal(2, code);
        Assert.Contains("has no entry point", Assert.Single(stderr), StringComparison.Ordinal);

    }

    [Fact]
    public async Task Version_prints_a_version()
    {
        var (code, stdout, _) = await PounceProcess.RunAsync(["--version"], _dir);
        Assert.Equal(0, code);
        Assert.Matches(@"^\d+\.\d+\.\d+", Assert.Single(stdout));
    }

    /// <summary>The value and source of one setting in <c>config show</c>'s output.</summary>
    internal static (string Value, string Source)? Row(IReadOnlyList<string> lines, string flag)
    {
        foreach (var line in lines)
        {
            var match = Regex.Match(line, "^" + Regex.Escape(flag) + @"\s+(?<value>""[^""]*""|\S+)\s+(?<source>.+)$");
            if (match.Success)
                return (match.Groups["value"].Value, match.Groups["source"].Value.TrimEnd());
        }
        return null;
    }
}
