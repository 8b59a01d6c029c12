// RaftPlayground: a live Part5Kv cluster in one process, and a page to watch it and break it.
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using RaftPlayground;

const string Usage = """
    usage: dotnet run --project Tools/RaftPlayground -- [--servers 3|5] [--port PORT] [--kv-port-base PORT] [--bind ADDRESS] [--watch-only]
      --servers N          servers in the cluster, 3 or 5 (default 5)
      --port PORT          the page's port, 0 for a free one (default 8080)
      --kv-port-base PORT  service i serves its KV API on PORT+i, 0 for free ports (default 14200, as upstream)
      --bind ADDRESS       the page's address (default 127.0.0.1, this machine only)
      --watch-only         other machines may watch, but only this machine may use the controls
    """;

if (args is ["--help"] or ["-h"])
{
    Console.WriteLine(Usage);
    return 0;
}
var (parsed, error) = CommandLine.Parse(args);
if (parsed is not { } options)
{
    Console.Error.WriteLine($"RaftPlayground: {error}");
    Console.Error.WriteLine(Usage);
    return 2;
}

Playground playground;
try
{
    playground = await Playground.StartAsync(options);
}
catch (IOException e)
{
    Console.Error.WriteLine($"RaftPlayground: cannot listen: {e.Message} (choose other ports with --port and --kv-port-base, or 0 for free ones)");
    return 1;
}

// Ctrl+C (and a plain kill) end the wait below instead of the process, so shutdown is clean.
var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
using (PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); }))
using (PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); }))
{
    Console.WriteLine($"RaftPlayground: {options.Servers} servers; KV APIs on {string.Join(", ", playground.KvAddrs)}");
    if (options.BindWarning() is { } warning)
    {
        Console.WriteLine($"RaftPlayground: {warning}");
    }
    Console.WriteLine($"Open {playground.Address} in a browser. Ctrl+C stops the cluster.");
    await stop.Task;
}
Console.WriteLine("RaftPlayground: stopping...");
await playground.StopAsync();
IReadOnlyList<string> left = playground.RunningTasks();
Console.WriteLine(left.Count == 0 ? "RaftPlayground: stopped." : $"RaftPlayground: stopped, but tasks still running: {string.Join("; ", left)}");
return 0;

/// <summary>The command line, read strictly: anything unknown or out of range is an error.</summary>
internal static class CommandLine
{
    public static (PlaygroundOptions? Options, string? Error) Parse(IReadOnlyList<string> args)
    {
        var options = new PlaygroundOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i];
            if (name == "--watch-only")
            {
                options = options with { WatchOnly = true };
                continue;
            }
            if (name is not ("--servers" or "--port" or "--kv-port-base" or "--bind"))
            {
                return (null, $"unknown option '{name}'");
            }
            if (i + 1 >= args.Count)
            {
                return (null, $"{name} needs a value");
            }
            string value = args[++i];
            if (name == "--bind")
            {
                if (!IPAddress.TryParse(value, out _))
                {
                    return (null, $"--bind wants an IP address, not '{value}'");
                }
                options = options with { Bind = value };
                continue;
            }
            if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            {
                return (null, $"{name} wants a number, not '{value}'");
            }
            switch (name)
            {
                case "--servers" when n is 3 or 5:
                    options = options with { Servers = n };
                    break;
                case "--servers":
                    return (null, $"--servers must be 3 or 5, not {n}");
                case "--port" when n <= 65535:
                    options = options with { Port = n };
                    break;
                case "--kv-port-base" when n == 0 || (n >= 1024 && n <= 65535 - 4):
                    options = options with { KvPortBase = n };
                    break;
                default:
                    return (null, $"{name} {n} is not a usable port");
            }
        }
        return (options, null);
    }
}
