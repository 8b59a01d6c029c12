// Only the learner drives the playground: what another web page (or a rebound DNS name) would
// send is refused, with a reason, and changes nothing; what the page and curl send still works.
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using FluentAssertions;
using Xunit;

namespace RaftPlayground;

[Collection("cluster")]
public sealed class SecurityTests
{
    private static PlaygroundOptions FreePorts(int servers) => new() { Servers = servers, Port = 0, KvPortBase = 0 };

    private static readonly TimeSpan ElectionLimit = TimeSpan.FromSeconds(5);

    /// <summary>What another site's page can send without the browser asking anyone: a form's POST with a text/plain body and that site's Origin.</summary>
    private static HttpRequestMessage CrossSiteFormPost(string path, string body)
    {
        var req = new HttpRequestMessage(HttpMethod.Post, $"api/{path}") { Content = new StringContent(body, Encoding.UTF8, "text/plain") };
        req.Headers.Add("Origin", "http://attacker.example");
        return req;
    }

    private static async Task<(int Status, string Error)> SendAsync(ApiClient api, HttpRequestMessage req)
    {
        using (req)
        {
            using HttpResponseMessage resp = await api.Http.SendAsync(req, TestContext.Current.CancellationToken);
            string text = await resp.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            return ((int)resp.StatusCode, JsonDocument.Parse(text).RootElement.GetProperty("error").GetString()!);
        }
    }

    [Fact]
    public async Task TestCrossSiteFormPostsAreRefused()
    {
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);
        await api.WaitForLeaderAsync(ElectionLimit);

        var crash = await SendAsync(api, CrossSiteFormPost("servers/0/crash", ""));
        crash.Status.Should().Be(403);
        crash.Error.Should().Contain("Origin 'http://attacker.example' is not this playground's page").And.NotContain("\n");
        var put = await SendAsync(api, CrossSiteFormPost("kv/put", """{"key":"stolen","value":"yes"}"""));
        put.Status.Should().Be(403);

        PlaygroundState state = await api.StateAsync();
        state.Cards[0].Status.Should().Be("connected", "the refused crash changed nothing");
        state.Cards.Should().OnlyContain(c => !c.Data!.ContainsKey("stolen"), "the refused put wrote nothing");
        state.Lines.Should().NotContain(l => l.Message.Contains("Crash", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData(null)]
    public async Task TestBodiesNotDeclaredJsonAreRefused(string? contentType)
    {
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);
        await api.WaitForLeaderAsync(ElectionLimit);

        // No Origin at all, as from a tool: the body's type alone is refused.
        var req = new HttpRequestMessage(HttpMethod.Post, "api/servers/0/crash") { Content = new ByteArrayContent([]) };
        if (contentType is not null)
        {
            req.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }
        var (status, error) = await SendAsync(api, req);
        status.Should().Be(415);
        error.Should().Contain("must be sent as Content-Type: application/json").And.Contain(contentType is null ? "(got none)" : $"(got '{contentType}')");
        (await api.StateAsync()).Cards[0].Status.Should().Be("connected");
    }

    [Fact]
    public async Task TestForeignOriginIsRefusedEvenWithJson()
    {
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);
        await api.WaitForLeaderAsync(ElectionLimit);

        foreach (string origin in new[] { "http://attacker.example", "null", $"http://localhost:{p.Address.Port + 1}" })
        {
            var req = new HttpRequestMessage(HttpMethod.Post, "api/servers/0/crash") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
            req.Headers.Add("Origin", origin);
            var (status, error) = await SendAsync(api, req);
            status.Should().Be(403, origin);
            error.Should().Contain($"Origin '{origin}'");
        }
        (await api.StateAsync()).Cards[0].Status.Should().Be("connected");
    }

    [Fact]
    public async Task TestThePagesOwnRequestsWork()
    {
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);
        await api.WaitForLeaderAsync(ElectionLimit);

        // Exactly what the page's fetch sends: its own Origin, a JSON body. Also as http://localhost:port and http://[::1]:port.
        foreach (string host in new[] { $"127.0.0.1:{p.Address.Port}", $"localhost:{p.Address.Port}", $"[::1]:{p.Address.Port}" })
        {
            using var put = new HttpRequestMessage(HttpMethod.Post, "api/kv/put") { Content = new StringContent("""{"key":"k","value":"v"}""", Encoding.UTF8, "application/json") };
            put.Headers.Host = host;
            put.Headers.Add("Origin", $"http://{host}");
            using HttpResponseMessage resp = await api.Http.SendAsync(put, TestContext.Current.CancellationToken);
            resp.StatusCode.Should().Be(HttpStatusCode.OK, await resp.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }
        using var crash = new HttpRequestMessage(HttpMethod.Post, "api/servers/0/crash") { Content = new StringContent("", Encoding.UTF8, "application/json") };
        crash.Headers.Add("Origin", $"http://127.0.0.1:{p.Address.Port}");
        (await api.Http.SendAsync(crash, TestContext.Current.CancellationToken)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await api.StateAsync()).Cards[0].Status.Should().Be("crashed");
    }

    [Theory]
    [InlineData("GET", "")]
    [InlineData("GET", "api/state")]
    [InlineData("POST", "api/servers/0/crash")]
    public async Task TestNamesOtherThanLocalhostAreRefused(string method, string path)
    {
        await using var p = await Playground.StartAsync(FreePorts(3));
        using var api = new ApiClient(p.Address);

        // A rebinding attack's page is at a name of the attacker's, resolved to 127.0.0.1: its Host says so.
        var req = new HttpRequestMessage(new HttpMethod(method), path);
        req.Headers.Host = $"rebind.attacker.example:{p.Address.Port}";
        if (method == "POST")
        {
            req.Content = new StringContent("{}", Encoding.UTF8, "application/json");
            req.Headers.Add("Origin", $"http://rebind.attacker.example:{p.Address.Port}");
        }
        var (status, error) = await SendAsync(api, req);
        status.Should().Be(403);
        error.Should().StartWith($"Host 'rebind.attacker.example:{p.Address.Port}' is not this playground's address");
        (await api.StateAsync()).Cards[0].Status.Should().Be("connected");

        // The same request by address or as localhost is let through.
        using var ok = new HttpRequestMessage(HttpMethod.Get, "api/state");
        ok.Headers.Host = $"localhost:{p.Address.Port}";
        (await api.Http.SendAsync(ok, TestContext.Current.CancellationToken)).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task TestWatchOnlyRefusesOtherMachinesControls()
    {
        await using var p = await Playground.StartAsync(FreePorts(3) with { WatchOnly = true, EveryClientIsRemote = true });
        using var api = new ApiClient(p.Address);
        await api.WaitForLeaderAsync(ElectionLimit);

        PlaygroundState state = await api.StateAsync();
        state.CanControl.Should().BeFalse("the page hides its controls from a client who may only watch");
        var (status, body) = await api.PostAsync("servers/0/crash");
        status.Should().Be(403);
        body.GetProperty("error").GetString().Should().Contain("watch-only");
        (status, _) = await api.PostAsync("kv/put", new { key = "k", value = "v" });
        status.Should().Be(403);
        (await api.StateAsync()).Cards[0].Status.Should().Be("connected");
    }

    [Fact]
    public async Task TestWatchOnlyLetsThisMachineControl()
    {
        await using var p = await Playground.StartAsync(FreePorts(3) with { WatchOnly = true });
        using var api = new ApiClient(p.Address);
        await api.WaitForLeaderAsync(ElectionLimit);
        (await api.StateAsync()).CanControl.Should().BeTrue();
        (await api.PostAsync("servers/0/crash")).Status.Should().Be(200);
    }
}
