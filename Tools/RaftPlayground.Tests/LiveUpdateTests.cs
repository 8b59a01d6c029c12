// The live updates' changes, worked out without a cluster: what a stream sends of the logs and
// the data stores, update after update.
using FluentAssertions;
using Xunit;

namespace RaftPlayground;

public sealed class LiveUpdateTests
{
    private static readonly object ModuleA = new(), ModuleB = new();

    private static ServerView Card(int commit, IReadOnlyDictionary<string, string>? data = null) =>
        new(0, "Follower", 1, -1, 0, commit, commit, data is null ? "crashed" : "connected", "127.0.0.1:1", data);

    /// <summary>One update of a one-server stream whose log is <paramref name="log"/>, read from where the writer asks.</summary>
    private static LogView? Next(LiveUpdateWriter w, object module, int[] log, int commit, IReadOnlyDictionary<string, string>? data = null)
    {
        int from = w.LogFrom()[0];
        var reading = new ServerReading(Card(commit, data ?? new Dictionary<string, string>()), module, Math.Min(from, log.Length), log.Length > from ? log[from..] : []);
        return w.Changes([reading]).Logs.SingleOrDefault();
    }

    [Fact]
    public void LogsTravelOnceThenOnlyWhatChanged()
    {
        var w = new LiveUpdateWriter(1);
        Next(w, ModuleA, [], -1).Should().BeEquivalentTo(new LogView(0, 0, []), "the first update says the log is empty");
        Next(w, ModuleA, [], -1).Should().BeNull();
        Next(w, ModuleA, [1, 1, 1, 2], 1).Should().BeEquivalentTo(new LogView(0, 0, [1, 3, 2, 1]));
        Next(w, ModuleA, [1, 1, 1, 2], 1).Should().BeNull("nothing changed");
        w.LogFrom()[0].Should().Be(2, "entries up to the commit index are never read again");
        Next(w, ModuleA, [1, 1, 1, 2, 2, 2], 3).Should().BeEquivalentTo(new LogView(0, 4, [2, 2]));

        // A new leader overwrites the uncommitted entries from index 4: sent from there.
        Next(w, ModuleA, [1, 1, 1, 2, 3], 3).Should().BeEquivalentTo(new LogView(0, 4, [3, 1]));
        // Truncated only: sent as an empty tail from the cut.
        Next(w, ModuleA, [1, 1, 1, 2], 3).Should().BeEquivalentTo(new LogView(0, 4, []));
    }

    [Fact]
    public void ARestartedServersLogIsSentWhole()
    {
        var w = new LiveUpdateWriter(1);
        Next(w, ModuleA, [1, 1, 2, 2], 3).Should().NotBeNull();
        // Read from where the old module had got to: the stream cannot compare, so it waits for a whole read.
        Next(w, ModuleB, [1, 1, 2, 2], -1).Should().BeNull();
        w.LogFrom()[0].Should().Be(0);
        Next(w, ModuleB, [1, 1, 2, 2], -1).Should().BeEquivalentTo(new LogView(0, 0, [1, 2, 2, 2]));
    }

    [Fact]
    public void DataStoresTravelAsChanges()
    {
        var w = new LiveUpdateWriter(1);
        IReadOnlyList<DataChange> Data(IReadOnlyDictionary<string, string>? data) =>
            w.Changes([new ServerReading(Card(-1, data), ModuleA, 0, [])]).Data;

        Data(new Dictionary<string, string> { ["a"] = "1" }).Should().BeEquivalentTo([new DataChange(0, true, new Dictionary<string, string> { ["a"] = "1" })]);
        Data(new Dictionary<string, string> { ["a"] = "1" }).Should().BeEmpty();
        Data(new Dictionary<string, string> { ["a"] = "2", ["b"] = "3" }).Should().BeEquivalentTo([new DataChange(0, false, new Dictionary<string, string> { ["a"] = "2", ["b"] = "3" })]);
        Data(null).Should().BeEquivalentTo([new DataChange(0, true, new Dictionary<string, string>())], "a crash empties the store");
        Data(null).Should().BeEmpty();
        Data(new Dictionary<string, string>()).Should().BeEquivalentTo([new DataChange(0, true, new Dictionary<string, string>())], "a restarted store starts empty");
    }

    [Fact]
    public void RunsCodeTheTerms()
    {
        LogView.RunsOf([]).Should().BeEmpty();
        LogView.RunsOf([4]).Should().Equal(4, 1);
        LogView.RunsOf([1, 1, 2, 1]).Should().Equal(1, 2, 2, 1, 1, 1);
    }
}
