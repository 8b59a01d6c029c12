// Reading a JSON request body and writing a JSON answer, with upstream's wire format.
using System.Net.Http.Headers;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using Microsoft.AspNetCore.Http;

namespace Kv.Service;

/// <summary>JSON helpers for the HTTP handlers (upstream's readRequestJSON and renderJSON).</summary>
public static class Json
{
    /// <summary>
    /// The one set of JSON options of the service and the client. Property names stay as declared
    /// (PascalCase, Go's field names) instead of ASP.NET Core's camelCase; names are matched
    /// without regard to case and unknown ones are refused, as Go's decoder with
    /// DisallowUnknownFields does; non-ASCII text is written as itself, as Go writes it.
    /// </summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = null,
        PropertyNameCaseInsensitive = true,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        Encoder = JavaScriptEncoder.Create(UnicodeRanges.All),
    };

    /// <summary>
    /// Reads the request body as a <typeparamref name="T"/>. The request must say its body is
    /// application/json. Returns the value, or null and a one-line reason to send back with a 400.
    /// </summary>
    public static async Task<(T? Value, string? Error)> ReadRequestJsonAsync<T>(HttpRequest req, CancellationToken ct)
        where T : class
    {
        string contentType = req.ContentType ?? "";
        if (contentType.Length == 0)
        {
            return (null, "missing Content-Type, expect application/json");
        }
        if (!MediaTypeHeaderValue.TryParse(contentType, out MediaTypeHeaderValue? mediaType))
        {
            return (null, $"bad Content-Type '{OneLine(contentType)}'");
        }
        if (!string.Equals(mediaType.MediaType, "application/json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, $"expect application/json Content-Type, got {mediaType.MediaType}");
        }

        try
        {
            T? value = await JsonSerializer.DeserializeAsync<T>(req.Body, Options, ct);
            return value is null ? (null, "request body is JSON null") : (value, null);
        }
        catch (JsonException e)
        {
            return (null, $"bad JSON request: {OneLine(e.Message)}");
        }
    }

    /// <summary>Writes <paramref name="value"/> as the JSON body of a 200 answer.</summary>
    public static async Task RenderJsonAsync<T>(HttpResponse resp, T value, CancellationToken ct)
    {
        // Encoded before anything is sent, so a failure can still become a 500 (as upstream's does).
        byte[] body = JsonSerializer.SerializeToUtf8Bytes(value, Options);
        resp.ContentType = "application/json";
        resp.ContentLength = body.Length;
        await resp.Body.WriteAsync(body, ct);
    }

    /// <summary>Writes a plain-text error answer: one line, like Go's http.Error.</summary>
    public static async Task RenderErrorAsync(HttpResponse resp, int statusCode, string reason, CancellationToken ct)
    {
        resp.StatusCode = statusCode;
        resp.ContentType = "text/plain; charset=utf-8";
        await resp.WriteAsync(OneLine(reason) + "\n", ct);
    }

    /// <summary><paramref name="s"/> with its line breaks escaped, so it stays on one line.</summary>
    internal static string OneLine(string s) => s.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
