// HTTP inside a simulation: a real ASP.NET Core app answers an HttpClient on the simulation's
// thread, and giving up, aborting and stopping behave as over a socket.
using System.Net;
using System.Net.Http.Json;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Lab.Tests;

public sealed class SimulatedHttpTests
{
    /// <summary>
    /// An app with a few routes on the simulated network: JSON in and out, a route that waits on
    /// the cluster's clock, a 404 and a 405; all on the simulation's thread, nothing escaping.
    /// </summary>
    [Fact]
    public async Task AnAppAnswersOnTheSimulationsThread()
    {
        await Simulation.RunAsync(1, async sim =>
        {
            var http = new SimulatedHttp();
            await using WebApplication app = await StartAppAsync(http, "localhost:14200", sim);
            using var client = new HttpClient(http.Handler()) { Timeout = Timeout.InfiniteTimeSpan };

            using HttpResponseMessage echoed = await client.PostAsJsonAsync(new Uri("http://localhost:14200/echo/"), new Message("hello"));
            echoed.StatusCode.Should().Be(HttpStatusCode.OK);
            (await echoed.Content.ReadFromJsonAsync<Message>())!.Text.Should().Be("hello!");
            echoed.Content.Headers.ContentType!.MediaType.Should().Be("application/json");

            using HttpResponseMessage slow = await client.PostAsync(new Uri("http://localhost:14200/slow/"), null);
            (await slow.Content.ReadAsStringAsync()).Should().Be("slept");
            sim.Clock.Now.Should().Be(TimeSpan.FromMilliseconds(100), "the route slept on the cluster's clock, and nothing else took time");

            using HttpResponseMessage missing = await client.PostAsync(new Uri("http://localhost:14200/nope/"), null);
            missing.StatusCode.Should().Be(HttpStatusCode.NotFound);
            using HttpResponseMessage wrongMethod = await client.GetAsync(new Uri("http://localhost:14200/echo/"));
            wrongMethod.StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed);

            await app.StopAsync();
            sim.Escapes.Should().BeEmpty();
            return true;
        });
    }

    /// <summary>
    /// A client that gives up aborts the request (the app sees RequestAborted at that instant); an
    /// app that aborts drops the connection; an address nobody serves refuses it.
    /// </summary>
    [Fact]
    public async Task GivingUpAbortingAndNobodyListeningAreAsOverASocket()
    {
        await Simulation.RunAsync(2, async sim =>
        {
            var http = new SimulatedHttp();
            var sawAbort = new TaskCompletionSource<TimeSpan>();
            await using WebApplication app = await StartAppAsync(http, "localhost:14201", sim, sawAbort);
            using var client = new HttpClient(http.Handler()) { Timeout = Timeout.InfiniteTimeSpan };

            using (var giveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(30), sim.Clock))
            {
                Func<Task> waiting = () => client.PostAsync(new Uri("http://localhost:14201/forever/"), null, giveUp.Token);
                await waiting.Should().ThrowAsync<OperationCanceledException>();
            }
            (await sawAbort.Task).Should().Be(TimeSpan.FromMilliseconds(30), "the app learns at once that its client left");

            Func<Task> aborted = () => client.PostAsync(new Uri("http://localhost:14201/abort/"), null);
            await aborted.Should().ThrowAsync<HttpRequestException>();

            Func<Task> refused = () => client.PostAsync(new Uri("http://localhost:9/echo/"), null);
            (await refused.Should().ThrowAsync<HttpRequestException>()).Which.HttpRequestError.Should().Be(HttpRequestError.ConnectionError);

            await app.StopAsync();
            http.IsListening("localhost:14201").Should().BeFalse("a stopped server no longer listens");
            sim.Escapes.Should().BeEmpty();
            return true;
        });
    }

    private sealed record Message(string Text);

    /// <summary>A small app on the simulated network: the same builder calls a service makes, with the server swapped.</summary>
    private static async Task<WebApplication> StartAppAsync(SimulatedHttp http, string authority, Simulation sim, TaskCompletionSource<TimeSpan>? sawAbort = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(http.NewServer(authority));
        WebApplication app = builder.Build();
        app.MapPost("/echo/", async (HttpContext ctx) =>
        {
            Message? m = await ctx.Request.ReadFromJsonAsync<Message>();
            await ctx.Response.WriteAsJsonAsync(new Message(m!.Text + "!"));
        });
        app.MapPost("/slow/", async (HttpContext ctx) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), sim.Clock);
            await ctx.Response.WriteAsync("slept");
        });
        app.MapPost("/forever/", async (HttpContext ctx) =>
        {
            var aborted = new TaskCompletionSource();
            using CancellationTokenRegistration r = ctx.RequestAborted.Register(() =>
            {
                sawAbort?.TrySetResult(sim.Clock.Now);
                aborted.TrySetResult();
            });
            await aborted.Task;
        });
        app.MapPost("/abort/", (HttpContext ctx) => ctx.Abort());
        await app.StartAsync();
        return app;
    }
}
