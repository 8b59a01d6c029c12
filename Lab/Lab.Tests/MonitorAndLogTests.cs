// The safety monitor and the cluster log.
using FluentAssertions;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Lab.Tests;

public sealed class MonitorAndLogTests
{
    /// <summary>Two leaders of one term, and two commands at one index, are both violations; agreement is not.</summary>
    [Fact]
    public void TheMonitorCatchesBothSafetyViolations()
    {
        var lines = new List<string>();
        var monitor = new SafetyMonitor(new ClusterLog(lines.Add, TimeProvider.System));

        monitor.LogDebug("[{Id}] {Message}", 0, "becomes Leader; term=3, log=[]");
        monitor.LogDebug("[{Id}] {Message}", 1, "becomes Leader; term=4, log=[]");
        monitor.Committed(0, 0, 42);
        monitor.Committed(1, 0, 42);
        monitor.Violations.Should().BeEmpty();

        monitor.LogDebug("[{Id}] {Message}", 2, "becomes Leader; term=3, log=[]");
        monitor.Committed(2, 0, 43);
        monitor.Violations.Should().Equal(
            "election safety: both 0 and 2 became leader in term 3",
            "state machine safety: server 0 applied 42 at index 0, server 2 applied 43");
        monitor.Committed(2, 0, 43);
        monitor.Violations.Should().HaveCount(2, "a violation seen again (a restarted server applying its log anew) is reported once");
        lines.Should().HaveCount(5, "every line goes on to the log, and each violation with them, at the moment it was seen");
        lines[^1].Should().EndWith("[TEST] SAFETY VIOLATED: state machine safety: server 0 applied 42 at index 0, server 2 applied 43");
    }

    /// <summary>On a simulation's clock a line's stamp is cluster time; after Close nothing more is written.</summary>
    [Fact]
    public async Task TheLogStampsClusterTimeUntilClosed()
    {
        var lines = await Simulation.RunAsync(1, async sim =>
        {
            var written = new List<string>();
            var log = new ClusterLog(written.Add, sim.Clock);
            log.Write("[TEST] first");
            await Task.Delay(TimeSpan.FromMilliseconds(1234.5), sim.Clock);
            log.LogDebug("[{Id}] {Message}", 3, "second");
            log.Close();
            log.Write("[TEST] after close");
            return written;
        });

        lines.Should().Equal("00:00:00.000000 [TEST] first", "00:00:01.234000 [3] second");
    }
}
