// The playground's routes: the page's files, and the JSON API whose fault actions and KV console
// requests the page's buttons send.
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using TestLogViz;

namespace RaftPlayground;

public sealed partial class Playground
{
    private void MapRoutes(WebApplication app, RequestGuard guard)
    {
        // Before any route: a request the page would not send is refused with its reason.
        app.Use(async (HttpContext ctx, RequestDelegate next) =>
        {
            if (guard.Check(ctx) is var (status, reason))
            {
                await Results.Json(new { error = reason }, JsonOptions, statusCode: status).ExecuteAsync(ctx);
                return;
            }
            await next(ctx);
        });

        // An unknown route or method gets its status with a one-line reason, like every error here.
        app.UseStatusCodePages(context =>
        {
            HttpContext ctx = context.HttpContext;
            int code = ctx.Response.StatusCode;
            return Results.Json(new { error = $"{code} {ReasonPhrases.GetReasonPhrase(code)}: {ctx.Request.Method} {ctx.Request.Path}" }, JsonOptions, statusCode: code).ExecuteAsync(ctx);
        });

        app.MapGet("/", () => Page("index.html", "text/html; charset=utf-8"));
        app.MapGet("/playground.js", () => Page("playground.js", "text/javascript; charset=utf-8"));
        app.MapGet("/playground.css", () => Page("playground.css", "text/css; charset=utf-8"));
        app.MapGet("/states.css", () => Results.Text(StateStyle.Css, "text/css; charset=utf-8"));
        // The ring, the logs and the details are drawn by TestLogViz's script, which its test pages draw with too.
        app.MapGet("/clusterview.js", () => Page("clusterview.js", "text/javascript; charset=utf-8", typeof(StateStyle).Assembly));
        app.MapGet("/clusterview.css", () => Page("clusterview.css", "text/css; charset=utf-8", typeof(StateStyle).Assembly));

        app.MapGet("/api/state", (HttpContext ctx) => Results.Json(State(100, guard.CanControl(ctx)), JsonOptions));
        app.MapGet("/api/events", (HttpContext ctx) => TypedResults.ServerSentEvents(EventsAsync(guard.CanControl(ctx), ctx.RequestAborted)));
        app.MapPost("/api/servers/{id}/{action}", (string id, string action) => Act(() => ServerActionAsync(id, action)));
        app.MapPost("/api/network/{mode}", (string mode, HttpContext ctx) => Act(() => NetworkActionAsync(mode, ctx)));
        app.MapPost("/api/kv/{op}", (string op, HttpContext ctx) => KvAsync(op, ctx));
        app.MapGet("/api/clock", () => Results.Json(ClockNow(), JsonOptions));
        app.MapPost("/api/clock/{action}", (string action, HttpContext ctx) => Act(() => ClockActionAsync(action, ctx)));
        app.MapPost("/api/messages/{id}/drop", (string id) => Act(() => Task.FromResult(DropMessage(id))));
        app.MapGet("/api/scenarios", () => Results.Json(Scenarios.All, JsonOptions));
        app.MapPost("/api/scenarios/{name}", (string name) => Act(() => name == "stop" ? _scenarios.StopRunningAsync() : Task.FromResult(_scenarios.Start(name))));
    }

    /// <summary>The four fault actions by name, on a server id given as text so a bad one gets a reason, not a bare 404.</summary>
    private Task<string> ServerActionAsync(string id, string action)
    {
        if (!int.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out int i))
        {
            throw new PlaygroundException(StatusCodes.Status400BadRequest, $"'{id}' is not a server id: ids are 0 to {Cluster.Size - 1}");
        }
        return action switch
        {
            "crash" => Cluster.CrashAsync(i),
            "restart" => Cluster.RestartAsync(i),
            "disconnect" => Cluster.DisconnectAsync(i),
            "reconnect" => Cluster.ReconnectAsync(i),
            _ => throw new PlaygroundException(StatusCodes.Status404NotFound, $"no action '{action}': use crash, restart, disconnect or reconnect"),
        };
    }

    /// <summary>The network's actions: reliable or unreliable delivery, a partition into the body's groups, and its end.</summary>
    private async Task<string> NetworkActionAsync(string mode, HttpContext ctx)
    {
        switch (mode)
        {
            case "reliable":
                return await Cluster.SetNetworkAsync(false);
            case "unreliable":
                return await Cluster.SetNetworkAsync(true);
            case "partition":
                PartitionRequest? req = await ReadBodyAsync<PartitionRequest>(ctx, "a partition's groups, such as {\"groups\": [[0, 1], [2, 3, 4]]}");
                if (req?.Groups is not { Count: > 0 } groups)
                {
                    throw new PlaygroundException(StatusCodes.Status400BadRequest, "a partition needs \"groups\": lists of server ids, such as {\"groups\": [[0, 1], [2, 3, 4]]}");
                }
                return await Cluster.PartitionAsync(groups);
            case "heal":
                return await Cluster.HealAsync();
            default:
                throw new PlaygroundException(StatusCodes.Status400BadRequest, $"no network mode '{mode}': use reliable, unreliable, partition or heal");
        }
    }

    /// <summary>
    /// The clock's actions: a speed (body {"speed": 0.02}), pause, resume, and while paused a
    /// step (body {"to": "timer"}, {"to": "message"} or {"ms": 10}). Each answers with the clock
    /// as it is after it.
    /// </summary>
    private async Task<string> ClockActionAsync(string action, HttpContext ctx)
    {
        ClusterClock clock = Cluster.Clock;
        switch (action)
        {
            case "speed":
                ClockRequest? sr = await ReadBodyAsync<ClockRequest>(ctx, "a speed, such as {\"speed\": 0.02}");
                if (sr?.Speed is not double speed || !(speed >= ClusterClock.MinSpeed && speed <= ClusterClock.MaxSpeed))
                {
                    throw new PlaygroundException(StatusCodes.Status400BadRequest,
                        $"bad speed {(sr?.Speed is double v ? v.ToString(CultureInfo.InvariantCulture) : "(none)")}: give \"speed\" from 0.005 (1/200) to 1, such as {{\"speed\": 0.02}} for 1/50");
                }
                clock.Speed = speed;
                _log.Write(Invariant($"Clock speed 1/{1 / speed:0.##}"));
                return Invariant($"speed {Ratio(speed)}");
            case "pause":
                clock.Pause();
                _log.Write("Clock paused");
                return Invariant($"paused at {clock.Elapsed.TotalMilliseconds:0.0} ms of cluster time");
            case "resume":
                clock.Resume();
                _log.Write("Clock resumed");
                return Invariant($"running at {Ratio(clock.Speed)} from {clock.Elapsed.TotalMilliseconds:0.0} ms");
            case "step":
                ClockRequest? step = await ReadBodyAsync<ClockRequest>(ctx, "a step, such as {\"to\": \"timer\"}, {\"to\": \"message\"} or {\"ms\": 10}");
                if (!clock.IsPaused)
                {
                    throw new PlaygroundException(StatusCodes.Status409Conflict, "the clock is running: pause it before stepping");
                }
                TimeSpan moved;
                string arrives = "";
                try
                {
                    if (step is { To: "message", Ms: null })
                    {
                        (moved, arrives) = await StepToNextMessageAsync();
                    }
                    else
                    {
                        moved = step switch
                        {
                            { To: "timer", Ms: null } => await clock.StepToNextTimerAsync(),
                            { To: null, Ms: double ms } when ms > 0 && ms <= ClusterClock.MaxStep.TotalMilliseconds => await clock.StepAsync(TimeSpan.FromMilliseconds(ms)),
                            { To: null, Ms: double ms } => throw new PlaygroundException(StatusCodes.Status400BadRequest,
                                Invariant($"bad step of {ms} ms: a step is more than 0 and at most {ClusterClock.MaxStep.TotalMilliseconds} ms")),
                            _ => throw new PlaygroundException(StatusCodes.Status400BadRequest,
                                "a step needs {\"to\": \"timer\"} (the next timer), {\"to\": \"message\"} (the next message's arrival) or {\"ms\": 10}"),
                        };
                    }
                }
                catch (InvalidOperationException e)
                {
                    // Resumed meanwhile, or another step under way.
                    throw new PlaygroundException(StatusCodes.Status409Conflict, e.Message);
                }
                return Invariant($"stepped {moved.TotalMilliseconds:0.###} ms to {clock.Elapsed.TotalMilliseconds:0.###} ms of cluster time{arrives}");
            default:
                throw new PlaygroundException(StatusCodes.Status404NotFound, $"no clock action '{action}': use speed, pause, resume or step");
        }
    }

    /// <summary>
    /// Steps to the moment the next message on its way reaches its receiver (or its reply its
    /// sender); 409 if none is on its way. Returns how far it moved and ": message N (...) arrives".
    /// </summary>
    private async Task<(TimeSpan Moved, string Arrives)> StepToNextMessageAsync()
    {
        ClusterClock clock = Cluster.Clock;
        var (due, m) = Cluster.Messages.NextDelivery()
            ?? throw new PlaygroundException(StatusCodes.Status409Conflict, "no message is on its way: step to the next timer, which sends the next ones");
        TimeSpan by = due - clock.Elapsed;
        // Due already (its timer fires at the next tick of the clock thread): the least step.
        TimeSpan moved = await clock.StepAsync(by > TimeSpan.Zero ? TimeSpan.FromTicks(Math.Min(by.Ticks, ClusterClock.MaxStep.Ticks)) : TimeSpan.FromTicks(1));
        string what = m.Stage == "replying" ? $"the reply to message {m.Id} ({m.Method} {m.To}→{m.From})" : $"message {m.Id} ({m.Method} {m.From}→{m.To})";
        return (moved, $": {what} arrives");
    }

    /// <summary>Drops message <paramref name="id"/> in flight.</summary>
    private string DropMessage(string id)
    {
        if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out long n))
        {
            throw new PlaygroundException(StatusCodes.Status400BadRequest, $"'{id}' is not a message id: ids are the numbers in \"messages\"");
        }
        if (!Cluster.Messages.Drop(n))
        {
            throw new PlaygroundException(StatusCodes.Status409Conflict, $"message {n} is not on its way any more: it has ended (or never was)");
        }
        _log.Write(Invariant($"Drop message #{n}"));
        return $"message {n} dropped";
    }

    private static string Ratio(double speed) => speed >= 1 ? "1×" : Invariant($"1/{1 / speed:0.##}×");

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>The request's JSON body as a <typeparamref name="T"/>, or a 400 saying it should be <paramref name="what"/>.</summary>
    private static async Task<T?> ReadBodyAsync<T>(HttpContext ctx, string what)
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(ctx.Request.Body, JsonOptions, ctx.RequestAborted);
        }
        catch (JsonException e)
        {
            throw new PlaygroundException(StatusCodes.Status400BadRequest, $"the body is not {what}: {e.Message}");
        }
    }

    /// <summary>Runs an action and answers {"message"}, or its refusal as {"error"} with the refusal's status.</summary>
    private static async Task<IResult> Act(Func<Task<string>> action)
    {
        try
        {
            return Results.Json(new { message = await action() }, JsonOptions);
        }
        catch (PlaygroundException e)
        {
            return Error(e);
        }
    }

    private async Task<IResult> KvAsync(string op, HttpContext ctx)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, _stopping.Token);
        try
        {
            KvRequest? req = await ReadBodyAsync<KvRequest>(ctx, "a JSON object of key, value and compare");
            return Results.Json(await _console.RunAsync(op, req, cts.Token), JsonOptions);
        }
        catch (PlaygroundException e)
        {
            return Error(e);
        }
    }

    private static IResult Error(PlaygroundException e) => Results.Json(new { error = e.Message }, JsonOptions, statusCode: e.Status);

    /// <summary>A file of the page, from the program's resources (or from <paramref name="assembly"/>'s, built in as Page/name).</summary>
    private static IResult Page(string name, string contentType, Assembly? assembly = null)
    {
        assembly ??= Assembly.GetExecutingAssembly();
        Stream stream = assembly.GetManifestResourceStream($"Page/{name}")
            ?? throw new InvalidOperationException($"the page's {name} is not built into {assembly.GetName().Name}");
        return Results.Stream(stream, contentType);
    }
}

/// <summary>The body of POST /api/clock/speed ({"speed"}) and /api/clock/step ({"to"} or {"ms"}).</summary>
internal sealed record ClockRequest(double? Speed, string? To, double? Ms);

/// <summary>The body of POST /api/network/partition: the groups, each a list of server ids.</summary>
internal sealed record PartitionRequest(IReadOnlyList<IReadOnlyList<int>>? Groups);
