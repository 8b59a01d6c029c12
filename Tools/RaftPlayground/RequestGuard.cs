// Who may do what: the checks every request passes before its route, so that only the learner,
// through the playground's own page (or a tool of theirs such as curl), drives the cluster.
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace RaftPlayground;

/// <summary>
/// Refuses what the playground's own page would never send. A browser lets any site the learner
/// has open send a "simple" cross-site POST (a form's text/plain body, no preflight check) and
/// only hides the answer, which is too late for a crash. So:
/// <list type="bullet">
/// <item>every request must name the playground by an IP address or <c>localhost</c> in its
/// <c>Host</c> header: a DNS name that an attacker rebinds to 127.0.0.1 gets nowhere;</item>
/// <item>a control or KV request (a POST) that carries an <c>Origin</c> must carry the page's own;
/// curl and other tools send none, and every browser sends one with a POST;</item>
/// <item>its body must be declared <c>application/json</c>, which a cross-site page cannot send
/// without the browser asking first (the preflight this server never grants);</item>
/// <item>with watch-only on, only this machine's clients may send one.</item>
/// </list>
/// </summary>
internal sealed class RequestGuard(bool watchOnly, Func<HttpContext, bool> isLocalClient)
{
    /// <summary>Whether <paramref name="ctx"/>'s client may use the controls: everyone, unless watch-only keeps them to this machine.</summary>
    public bool CanControl(HttpContext ctx) => !watchOnly || isLocalClient(ctx);

    /// <summary>Why <paramref name="ctx"/> is refused (its status and a one-line reason), or null if it may go on.</summary>
    public (int Status, string Reason)? Check(HttpContext ctx)
    {
        HttpRequest req = ctx.Request;
        if (!IsAddressOrLocalhost(req.Host.Host))
        {
            string host = req.Host.HasValue ? $"'{req.Host.Value}'" : "none";
            return (StatusCodes.Status403Forbidden,
                $"Host {host} is not this playground's address: open it by an IP address or as localhost (names are refused, so a rebound DNS name cannot reach it)");
        }
        if (HttpMethods.IsGet(req.Method) || HttpMethods.IsHead(req.Method))
        {
            return null;
        }
        if (!CanControl(ctx))
        {
            return (StatusCodes.Status403Forbidden, "this playground is watch-only for other machines: its controls work only from the machine it runs on");
        }
        string? origin = req.Headers.Origin;
        string own = $"http://{req.Host.Value}";
        if (origin is not null && !string.Equals(origin, own, StringComparison.OrdinalIgnoreCase))
        {
            return (StatusCodes.Status403Forbidden, $"Origin '{origin}' is not this playground's page ({own}): only the page itself may use the controls");
        }
        if (!IsJson(req.ContentType))
        {
            string got = req.ContentType is { Length: > 0 } type ? $"'{type}'" : "none";
            return (StatusCodes.Status415UnsupportedMediaType, $"a control or KV request must be sent as Content-Type: application/json, as the page sends it (got {got})");
        }
        return null;
    }

    /// <summary>True for an IP address (IPv6 in brackets, as in a URL) or localhost: the names no DNS server can rebind.</summary>
    private static bool IsAddressOrLocalhost(string host)
    {
        if (host.Length == 0)
        {
            return false;
        }
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        string bare = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        return IPAddress.TryParse(bare, out _);
    }

    /// <summary>application/json, with or without parameters such as charset.</summary>
    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out MediaTypeHeaderValue? type)
        && type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase);
}
