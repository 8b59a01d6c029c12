// Tests beyond upstream's: a KV service hands the clock it is given to its Raft server, so a tool
// can run a whole service cluster slowed down, and a client's request still goes through.
using FluentAssertions;
using Kv.Client;
using Kv.Service;
using Microsoft.Extensions.Time.Testing;
using Raft;
using Xunit;

namespace Kv.Tests;

[Collection("cluster")]
public sealed class ClockTests
{
    /// <summary>
    /// Three services on a clock that moves only when the test moves it: no leader while it
    /// stands still, a leader once it moves, and a Put that completes while the test moves it on.
    /// </summary>
    [Fact]
    public async Task ServiceRaftRunsOnTheClockItIsGiven()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        var clock = new FakeTimeProvider();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        KvService[] services = [.. Enumerable.Range(0, 3).Select(i => new KvService(i, [.. Enumerable.Range(0, 3).Where(p => p != i)], new MapStorage(), ready.Task, timeProvider: clock))];
        try
        {
            foreach (KvService s in services)
            {
                foreach (KvService peer in services.Where(p => p != s))
                {
                    s.ConnectToRaftPeer(Array.IndexOf(services, peer), peer.GetRaftListenAddr());
                }
            }
            ready.SetResult();
            List<string> addrs = [];
            foreach (KvService s in services)
            {
                addrs.Add(await s.ServeHttpAsync());
            }

            await Task.Delay(400, ct);
            services.Should().OnlyContain(s => s.RaftServer.Report().Term == 0, "no election timeout passes on a clock that stands still");

            (await StepUntilAsync(clock, () => services.Count(s => s.IsLeader()) == 1, ct)).Should().BeTrue("a leader once the clock moves");

            // Each attempt gets 10 s of real time: the request's Raft round waits for the test to move the clock.
            using var client = new KvClient(addrs, attemptTimeout: TimeSpan.FromSeconds(10));
            Task<(string PrevValue, bool KeyFound)> put = client.PutAsync("k", "v", ct);
            (await StepUntilAsync(clock, () => put.IsCompleted, ct)).Should().BeTrue("the Put completes as the clock moves");
            (await put).KeyFound.Should().BeFalse();
        }
        finally
        {
            foreach (KvService s in services)
            {
                s.DisconnectFromAllRaftPeers();
            }
            foreach (KvService s in services)
            {
                await s.ShutdownAsync();
            }
        }
    }

    /// <summary>
    /// Moves <paramref name="clock"/> 5 ms at a time (half the CM's 10 ms tick), with a moment of
    /// real time after each step for the work it woke, until <paramref name="done"/> holds or 10 s
    /// of it have passed.
    /// </summary>
    private static async Task<bool> StepUntilAsync(FakeTimeProvider clock, Func<bool> done, CancellationToken ct)
    {
        for (int ms = 0; ms < 10_000 && !done(); ms += 5)
        {
            clock.Advance(TimeSpan.FromMilliseconds(5));
            await Task.Delay(1, ct);
        }
        return done();
    }
}
