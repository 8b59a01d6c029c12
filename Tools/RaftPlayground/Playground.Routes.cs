// The playground's routes: the page's files, and the JSON API whose fault actions and KV console
// requests the page's buttons send.
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Lab;
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

        app.MapGet("/api/state", (Func<HttpContext, Task<IResult>>)(ctx => StateRouteAsync(ctx, guard.CanControl(ctx))));
        app.MapGet("/api/events", (HttpContext ctx) => TypedResults.ServerSentEvents(EventsAsync(guard.CanControl(ctx), ctx.RequestAborted)));
        app.MapGet("/api/recording", (Func<HttpContext, Task<IResult>>)RecordingAsync);
        app.MapPost("/api/servers/{id}/{action}", (string id, string action) => Act(() => ServerActionAsync(id, action)));
        app.MapPost("/api/network/{mode}", (string mode, HttpContext ctx) => Act(() => NetworkActionAsync(mode, ctx)));
        app.MapPost("/api/kv/{op}", (string op, HttpContext ctx) => KvAsync(op, ctx));
        app.MapGet("/api/clock", async () => Results.Json(await ClockNowAsync(), JsonOptions));
        app.MapPost("/api/clock/{action}", (string action, HttpContext ctx) => Act(() => ClockActionAsync(action, ctx)));
        app.MapPost("/api/cluster/new", (Func<HttpContext, Task<IResult>>)(ctx => Act(() => NewClusterRouteAsync(ctx))));
        app.MapPost("/api/messages/{id}/drop", (string id) => Act(() => DropMessageAsync(id)));
        app.MapGet("/api/scenarios", () => Results.Json(Scenarios.All, JsonOptions));
        app.MapPost("/api/scenarios/{name}", (string name) => Act(() => ScenarioAsync(name)));
    }

    /// <summary>GET /api/state, now or, with ?atMs=T, as it was at cluster time T.</summary>
    private async Task<IResult> StateRouteAsync(HttpContext ctx, bool canControl)
    {
        try
        {
            if (ctx.Request.Query.TryGetValue("atMs", out var at))
            {
                if (!double.TryParse(at.ToString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double ms) || !double.IsFinite(ms))
                {
                    throw new PlaygroundException(StatusCodes.Status400BadRequest, $"atMs must be a number of milliseconds of cluster time, not '{at}'");
                }
                return Results.Json(await StateAtAsync(FromMs(ms), canControl), JsonOptions);
            }
            return Results.Json(await StateAsync(100, canControl), JsonOptions);
        }
        catch (PlaygroundException e)
        {
            return Error(e);
        }
    }

    /// <summary>GET /api/recording: the run so far, in TestLogViz's recording format, with the inputs that replay it.</summary>
    private async Task<IResult> RecordingAsync(HttpContext ctx)
    {
        ClusterRun run = Run;
        TimeSpan now = run.Pacer.Now;
        // Made by running the seed and the inputs again, with a recorder, to where the run stands.
        ClusterRun again = await ClusterRun.StartAsync(run.Seed, KvAddrs, run.Pacer.Speed, paused: true, run.Inputs, now, _options.ScenarioPause, record: true);
        try
        {
            string json = await again.RecordingAsync();
            ctx.Response.Headers.ContentDisposition = $"attachment; filename=\"playground-seed{run.Seed}.recording.json\"";
            return Results.Text(json, "application/json; charset=utf-8");
        }
        finally
        {
            again.Stop();
        }
    }

    /// <summary>Sends an input to the current run; its answer, or its refusal thrown.</summary>
    private Task<object?> InputAsync(PlaygroundInput input) => Run.InputAsync(input);

    /// <summary>The four fault actions by name, on a server id given as text so a bad one gets a reason, not a bare 404.</summary>
    private async Task<string> ServerActionAsync(string id, string action)
    {
        if (!int.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out int i))
        {
            throw new PlaygroundException(StatusCodes.Status400BadRequest, $"'{id}' is not a server id: ids are 0 to {Run.Cluster.Size - 1}");
        }
        if (action is not ("crash" or "restart" or "disconnect" or "reconnect" or "timeout"))
        {
            throw new PlaygroundException(StatusCodes.Status404NotFound, $"no action '{action}': use crash, restart, disconnect, reconnect or timeout");
        }
        return (string)(await InputAsync(new PlaygroundInput { Kind = action, Server = i }))!;
    }

    /// <summary>The network's actions: reliable or unreliable delivery, a partition into the body's groups, and its end.</summary>
    private async Task<string> NetworkActionAsync(string mode, HttpContext ctx)
    {
        switch (mode)
        {
            case "reliable":
            case "unreliable":
                return (string)(await InputAsync(new PlaygroundInput { Kind = "network", Unreliable = mode == "unreliable" }))!;
            case "partition":
                PartitionRequest? req = await ReadBodyAsync<PartitionRequest>(ctx, "a partition's groups, such as {\"groups\": [[0, 1], [2, 3, 4]]}");
                if (req?.Groups is not { Count: > 0 } groups)
                {
                    throw new PlaygroundException(StatusCodes.Status400BadRequest, "a partition needs \"groups\": lists of server ids, such as {\"groups\": [[0, 1], [2, 3, 4]]}");
                }
                return (string)(await InputAsync(new PlaygroundInput { Kind = "partition", Groups = groups }))!;
            case "heal":
                return (string)(await InputAsync(new PlaygroundInput { Kind = "heal" }))!;
            default:
                throw new PlaygroundException(StatusCodes.Status400BadRequest, $"no network mode '{mode}': use reliable, unreliable, partition or heal");
        }
    }

    /// <summary>
    /// The clock's actions: a speed (body {"speed": 0.02}), pause, resume, while paused a step
    /// (body {"to": "timer"}, {"to": "message"} or {"ms": 10}), and a fork (body {"atMs": T}).
    /// Each answers with the clock as it is after it. None is an input: they change when things
    /// happen in real time, never what happens.
    /// </summary>
    private async Task<string> ClockActionAsync(string action, HttpContext ctx)
    {
        ClusterRun run = Run;
        Pacer pacer = run.Pacer;
        switch (action)
        {
            case "speed":
                ClockRequest? sr = await ReadBodyAsync<ClockRequest>(ctx, "a speed, such as {\"speed\": 0.02}");
                if (sr?.Speed is not double speed || !(speed >= Pacer.MinSpeed && speed <= Pacer.MaxSpeed))
                {
                    throw new PlaygroundException(StatusCodes.Status400BadRequest,
                        $"bad speed {(sr?.Speed is double v ? v.ToString(CultureInfo.InvariantCulture) : "(none)")}: give \"speed\" from 0.005 (1/200) to 1, such as {{\"speed\": 0.02}} for 1/50");
                }
                pacer.Speed = speed;
                run.Note(Invariant($"Clock speed 1/{1 / speed:0.##}"));
                return Invariant($"speed {Ratio(speed)}");
            case "pause":
                pacer.Pause();
                run.Note("Clock paused");
                return Invariant($"paused at {pacer.Now.TotalMilliseconds:0.0} ms of cluster time");
            case "resume":
                pacer.Resume();
                run.Note("Clock resumed");
                return Invariant($"running at {Ratio(pacer.Speed)} from {pacer.Now.TotalMilliseconds:0.0} ms");
            case "step":
                ClockRequest? step = await ReadBodyAsync<ClockRequest>(ctx, "a step, such as {\"to\": \"timer\"}, {\"to\": \"message\"} or {\"ms\": 10}");
                if (!pacer.IsPaused)
                {
                    throw new PlaygroundException(StatusCodes.Status409Conflict, "the clock is running: pause it before stepping");
                }
                TimeSpan from = pacer.Now, to;
                // What a step to the next timer did is told from the servers before and after it.
                IReadOnlyList<ServerView>? before = step?.To == "timer" ? await run.ReadAsync(run.Cluster.Views) : null;
                string what = "";
                switch (step)
                {
                    case { To: "timer", Ms: null }:
                        to = await run.ReadAsync(() => run.Sim.Clock.NextTimer() is { } due && due > from ? due : from);
                        break;
                    case { To: "message", Ms: null }:
                        (to, what) = await run.ReadAsync(() => NextMessage(run.Cluster))
                            ?? throw new PlaygroundException(StatusCodes.Status409Conflict, "no message is on its way: step to the next timer, which sends the next ones");
                        break;
                    case { To: null, Ms: double ms } when ms > 0 && ms <= MaxStep.TotalMilliseconds:
                        to = from + FromMs(ms);
                        break;
                    case { To: null, Ms: double ms }:
                        throw new PlaygroundException(StatusCodes.Status400BadRequest,
                            Invariant($"bad step of {ms} ms: a step is more than 0 and at most {MaxStep.TotalMilliseconds} ms"));
                    default:
                        throw new PlaygroundException(StatusCodes.Status400BadRequest,
                            "a step needs {\"to\": \"timer\"} (the next timer), {\"to\": \"message\"} (the next message's arrival) or {\"ms\": 10}");
                }
                try
                {
                    pacer.StepTo(to);
                }
                catch (InvalidOperationException e)
                {
                    throw new PlaygroundException(StatusCodes.Status409Conflict, e.Message);
                }
                await pacer.WhenReachedAsync(to);
                if (before is not null)
                {
                    what = await run.ReadAsync(() => run.Cluster.WhatHappened(before));
                }
                return Invariant($"stepped {(to - from).TotalMilliseconds:0.###} ms to {to.TotalMilliseconds:0.###} ms of cluster time{what}");
            case "fork":
                ForkRequest? fork = await ReadBodyAsync<ForkRequest>(ctx, "a moment to continue from, such as {\"atMs\": 700}");
                if (fork?.AtMs is not double at || !double.IsFinite(at))
                {
                    throw new PlaygroundException(StatusCodes.Status400BadRequest, "a fork needs \"atMs\": the cluster time to continue from, such as {\"atMs\": 700}");
                }
                return await ForkAsync(FromMs(at));
            default:
                throw new PlaygroundException(StatusCodes.Status404NotFound, $"no clock action '{action}': use speed, pause, resume, step or fork");
        }
    }

    /// <summary>The longest step.</summary>
    private static readonly TimeSpan MaxStep = TimeSpan.FromSeconds(10);

    /// <summary>Milliseconds as ticks, rounded (a double's milliseconds can fall a hair short of the tick meant).</summary>
    private static TimeSpan FromMs(double ms) => TimeSpan.FromTicks((long)Math.Round(ms * TimeSpan.TicksPerMillisecond));

    /// <summary>When the next message on its way reaches its receiver (or its reply its sender), and ": message N (...) arrives"; on the simulation's thread.</summary>
    private static (TimeSpan To, string What)? NextMessage(Cluster cluster)
    {
        if (cluster.Messages.NextDelivery() is not var (due, m))
        {
            return null;
        }
        string what = m.Stage == "replying" ? $"the reply to message {m.Id} ({m.Method} {m.To}→{m.From})" : $"message {m.Id} ({m.Method} {m.From}→{m.To})";
        return (due > cluster.Clock.Now ? due : cluster.Clock.Now, $": {what} arrives");
    }

    /// <summary>POST /api/cluster/new: body {"seed": N}, or {} for a new seed.</summary>
    private async Task<string> NewClusterRouteAsync(HttpContext ctx)
    {
        NewClusterRequest? req = await ReadBodyAsync<NewClusterRequest>(ctx, "a seed, such as {\"seed\": 5}, or {} for a new one");
        if (req?.Seed is < 0)
        {
            throw new PlaygroundException(StatusCodes.Status400BadRequest, $"bad seed {req.Seed}: a seed is a whole number from 0");
        }
        return await NewClusterAsync(req?.Seed);
    }

    /// <summary>A scenario's start, or "stop".</summary>
    private async Task<string> ScenarioAsync(string name)
    {
        if (name != "stop" && !Scenarios.All.Any(s => s.Name == name))
        {
            throw new PlaygroundException(StatusCodes.Status404NotFound, $"no scenario '{name}': use {string.Join(", ", Scenarios.All.Select(s => s.Name))}");
        }
        return (string)(await InputAsync(name == "stop" ? new PlaygroundInput { Kind = "scenario-stop" } : new PlaygroundInput { Kind = "scenario", Op = name }))!;
    }

    /// <summary>Drops message <paramref name="id"/> in flight.</summary>
    private async Task<string> DropMessageAsync(string id)
    {
        if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out long n))
        {
            throw new PlaygroundException(StatusCodes.Status400BadRequest, $"'{id}' is not a message id: ids are the numbers in \"messages\"");
        }
        return (string)(await InputAsync(new PlaygroundInput { Kind = "drop", Message = n }))!;
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
        try
        {
            KvRequest? req = await ReadBodyAsync<KvRequest>(ctx, "a JSON object of key, value and compare (and server, to send it there first)");
            return Results.Json(await InputAsync(KvConsole.Input(op, req, req?.Server)), JsonOptions);
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

/// <summary>The body of POST /api/clock/fork: the cluster time to continue from.</summary>
internal sealed record ForkRequest(double? AtMs);

/// <summary>The body of POST /api/cluster/new: the seed, or none for a new one.</summary>
internal sealed record NewClusterRequest(int? Seed);

/// <summary>The body of POST /api/network/partition: the groups, each a list of server ids.</summary>
internal sealed record PartitionRequest(IReadOnlyList<IReadOnlyList<int>>? Groups);
