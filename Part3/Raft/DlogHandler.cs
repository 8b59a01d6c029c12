// The formatting behind ConsensusModule.Dlog.
using System.Collections;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Raft;

/// <summary>
/// Builds a <c>Dlog($"...")</c> message only when debug logging is on, so a line such as
/// <c>Dlog($"... log={_log}")</c> costs nothing when logging is off. Collections print the way
/// Go's <c>%v</c> prints them, <c>[a b c]</c> and <c>map[k:v]</c>, so logs read alike in both ports.
/// </summary>
[InterpolatedStringHandler]
internal ref struct DlogHandler
{
    /// <summary>The message so far; null when logging is off and nothing is built.</summary>
    private readonly StringBuilder? _builder;

    public DlogHandler(int literalLength, int formattedCount, ConsensusModule cm, out bool enabled)
    {
        enabled = cm.DebugEnabled;
        _builder = enabled ? new StringBuilder(literalLength + (formattedCount * 8)) : null;
    }

    public readonly void AppendLiteral(string text) => _builder?.Append(text);

    public readonly void AppendFormatted<T>(T value)
    {
        if (_builder is not null)
        {
            Format(_builder, value);
        }
    }

    /// <summary>The finished message, or null when logging is off.</summary>
    public readonly string? Build() => _builder?.ToString();

    private static void Format(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case null:
                sb.Append("<nil>");
                break;
            case string s:
                sb.Append(s);
                break;
            case IDictionary map:
                sb.Append("map[");
                var first = true;
                foreach (DictionaryEntry e in map)
                {
                    sb.Append(first ? "" : " ");
                    Format(sb, e.Key);
                    sb.Append(':');
                    Format(sb, e.Value);
                    first = false;
                }
                sb.Append(']');
                break;
            case IEnumerable items:
                sb.Append('[');
                var firstItem = true;
                foreach (object? item in items)
                {
                    sb.Append(firstItem ? "" : " ");
                    Format(sb, item);
                    firstItem = false;
                }
                sb.Append(']');
                break;
            default:
                sb.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }
}
