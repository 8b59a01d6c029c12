// The kv scenario's baseline: a service that answers at once, so a call costs HTTP and JSON alone.
using Kv.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace RaftBench;

/// <summary>
/// A stand-in for the KV service that answers every put at once with OK: the same Kestrel setup
/// and wire format, no Raft. What a KvClient call costs in HTTP and JSON alone.
/// </summary>
internal sealed class EchoStub : IAsyncDisposable
{
    private readonly WebApplication _app;

    public string Addr { get; }

    private EchoStub(WebApplication app, string addr)
    {
        _app = app;
        Addr = addr;
    }

    public static async Task<EchoStub> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        WebApplication app = builder.Build();
        app.Urls.Add("http://127.0.0.1:0");
        var options = new System.Text.Json.JsonSerializerOptions { PropertyNamingPolicy = null };
        app.MapPost("/put/", async (HttpContext ctx) =>
        {
            PutRequest? req = await ctx.Request.ReadFromJsonAsync<PutRequest>(options, ctx.RequestAborted);
            await ctx.Response.WriteAsJsonAsync(new PutResponse { RespStatus = ResponseStatus.OK, PrevValue = req?.Value ?? "" }, options, ctx.RequestAborted);
        });
        await app.StartAsync();
        string url = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new EchoStub(app, new Uri(url).Authority);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
