// The messages of the KV service's HTTP API: what a client POSTs and what the service answers.
namespace Kv.Api;

// Every answer carries its own ResponseStatus rather than leaning on HTTP status codes: "this
// server is not the leader" and "your command lost its slot in the log" are normal outcomes a
// client acts on, not transport errors. The property names are the wire names (PascalCase, as Go
// encodes them), so a client of either port can talk to a cluster of the other.
//
// Every request names its client (ClientID) and that client's request (RequestID, increasing per
// client). A client that resends keeps both, so the services can tell a resend from a new request.

/// <summary>Body of <c>POST /put/</c>: store <see cref="Value"/> under <see cref="Key"/>.</summary>
public sealed record PutRequest
{
    public string Key { get; init; } = "";
    public string Value { get; init; } = "";

    public long ClientID { get; init; }
    public long RequestID { get; init; }
}

/// <summary>Any answer of the service: each tells how the request went.</summary>
public interface IResponse
{
    ResponseStatus RespStatus { get; }
}

/// <summary>Answer to a Put: whether the key existed before, and its value then.</summary>
public sealed record PutResponse : IResponse
{
    public ResponseStatus RespStatus { get; init; }
    public bool KeyFound { get; init; }
    public string PrevValue { get; init; } = "";
}

/// <summary>Body of <c>POST /append/</c>: add <see cref="Value"/> to the end of <see cref="Key"/>'s value.</summary>
public sealed record AppendRequest
{
    public string Key { get; init; } = "";
    public string Value { get; init; } = "";

    public long ClientID { get; init; }
    public long RequestID { get; init; }
}

/// <summary>Answer to an Append: whether the key existed before, and its value then.</summary>
public sealed record AppendResponse : IResponse
{
    public ResponseStatus RespStatus { get; init; }
    public bool KeyFound { get; init; }
    public string PrevValue { get; init; } = "";
}

/// <summary>Body of <c>POST /get/</c>: read the value of <see cref="Key"/>.</summary>
public sealed record GetRequest
{
    public string Key { get; init; } = "";

    public long ClientID { get; init; }
    public long RequestID { get; init; }
}

/// <summary>Answer to a Get: whether the key exists, and its value.</summary>
public sealed record GetResponse : IResponse
{
    public ResponseStatus RespStatus { get; init; }
    public bool KeyFound { get; init; }
    public string Value { get; init; } = "";
}

/// <summary>
/// Body of <c>POST /cas/</c>: set <see cref="Key"/> to <see cref="Value"/> only if its current
/// value is <see cref="CompareValue"/>.
/// </summary>
public sealed record CASRequest
{
    public string Key { get; init; } = "";
    public string CompareValue { get; init; } = "";
    public string Value { get; init; } = "";

    public long ClientID { get; init; }
    public long RequestID { get; init; }
}

/// <summary>Answer to a CAS: whether the key existed, and its value before the CAS.</summary>
public sealed record CASResponse : IResponse
{
    public ResponseStatus RespStatus { get; init; }
    public bool KeyFound { get; init; }
    public string PrevValue { get; init; } = "";
}

/// <summary>How a request went. Sent as its number; the numbers are upstream's.</summary>
public enum ResponseStatus
{
    Invalid = 0,
    OK = 1,
    NotLeader = 2,
    FailedCommit = 3,

    /// <summary>The request was carried out before, for an earlier copy of it; this copy changed nothing.</summary>
    DuplicateRequest = 4,
}
