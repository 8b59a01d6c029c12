// The machine gate on its own, at a folder of its own, so these tests never hold up a real cluster.
using FluentAssertions;
using Xunit;

namespace Kv.Tests;

public sealed class MachineGateTests : IAsyncDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("machine-gate-test-");

    /// <summary>Ends the waits a test leaves behind, before the folder goes.</summary>
    private readonly CancellationTokenSource _end = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);

    private readonly List<Task<MachineGate.Pass>> _entered = [];

    private CancellationToken Token => _end.Token;

    public async ValueTask DisposeAsync()
    {
        // A wait still polling would put the admission file back into a folder being deleted.
        await _end.CancelAsync();
        foreach (Task<MachineGate.Pass> entering in _entered)
        {
            try
            {
                (await entering).Dispose();
            }
            catch (OperationCanceledException)
            {
                // left waiting by its test, on purpose
            }
        }
        _end.Dispose();
        _folder.Delete(recursive: true);
    }

    private Task<MachineGate.Pass> Enter(GateRole role, int weight = 1)
    {
        Task<MachineGate.Pass> entering = MachineGate.EnterAsync(_folder.FullName, role, weight, Token);
        _entered.Add(entering);
        return entering;
    }

    /// <summary>Whether <paramref name="entering"/> is still waiting a while after it was asked for.</summary>
    private static async Task<bool> StillWaitingAsync(Task<MachineGate.Pass> entering)
    {
        await Task.WhenAny(entering, Task.Delay(200));
        return !entering.IsCompleted;
    }

    [Fact]
    public async Task ClustersFillThePlacesAndTheNextWaitsForOneToLeave()
    {
        List<MachineGate.Pass> inside = [];
        for (int i = 0; i < MachineGate.ClusterCapacity; i++)
        {
            inside.Add(await Enter(GateRole.Cluster));
        }
        Task<MachineGate.Pass> next = Enter(GateRole.Cluster);
        (await StillWaitingAsync(next)).Should().BeTrue("every place is taken");

        inside[0].Dispose();
        using MachineGate.Pass admitted = await next.WaitAsync(TimeSpan.FromSeconds(5), Token);
        admitted.Waited.Should().BeGreaterThan(TimeSpan.FromMilliseconds(100));
        inside.Skip(1).ToList().ForEach(p => p.Dispose());
    }

    [Fact]
    public async Task AClusterThatTakesEveryPlaceWaitsForTheOthersAndKeepsThemOut()
    {
        MachineGate.Pass one = await Enter(GateRole.Cluster);
        Task<MachineGate.Pass> alone = Enter(GateRole.Cluster, MachineGate.ClusterCapacity);
        (await StillWaitingAsync(alone)).Should().BeTrue("another cluster is running");

        one.Dispose();
        using MachineGate.Pass all = await alone.WaitAsync(TimeSpan.FromSeconds(5), Token);
        (await StillWaitingAsync(Enter(GateRole.Cluster))).Should().BeTrue("the one inside took every place");
    }

    [Fact]
    public async Task HeavyWorkAndClustersNeverRunTogetherButHeavyRunsBesideHeavy()
    {
        MachineGate.Pass cluster = await Enter(GateRole.Cluster);
        Task<MachineGate.Pass> heavy = Enter(GateRole.Heavy);
        (await StillWaitingAsync(heavy)).Should().BeTrue("a cluster is running");

        cluster.Dispose();
        using MachineGate.Pass first = await heavy.WaitAsync(TimeSpan.FromSeconds(5), Token);
        using MachineGate.Pass second = await Enter(GateRole.Heavy).WaitAsync(TimeSpan.FromSeconds(5), Token);
        (await StillWaitingAsync(Enter(GateRole.Cluster))).Should().BeTrue("heavy work is running");
    }

    [Fact]
    public async Task LightWorkRunsBesideHeavyAndLightButTakesTurnsWithClusters()
    {
        MachineGate.Pass light = await Enter(GateRole.Light);
        MachineGate.Pass heavy = await Enter(GateRole.Heavy).WaitAsync(TimeSpan.FromSeconds(5), Token);
        MachineGate.Pass otherLight = await Enter(GateRole.Light).WaitAsync(TimeSpan.FromSeconds(5), Token);
        (await StillWaitingAsync(Enter(GateRole.Cluster))).Should().BeTrue("light work is running");
        light.Dispose();
        heavy.Dispose();
        otherLight.Dispose();

        using MachineGate.Pass cluster = await Enter(GateRole.Cluster).WaitAsync(TimeSpan.FromSeconds(5), Token);
        (await StillWaitingAsync(Enter(GateRole.Light))).Should().BeTrue("a cluster is running");
    }

    [Fact]
    public async Task APassLeftByAProcessThatEndedIsCleared()
    {
        // What a killed process leaves: its pass file, which nothing holds open any more.
        string left = Path.Combine(_folder.FullName, $"999999-{Guid.NewGuid():N}.{GateRole.Heavy}.1.pass");
        await File.WriteAllTextAsync(left, "", Token);

        using MachineGate.Pass pass = await Enter(GateRole.Cluster, MachineGate.ClusterCapacity).WaitAsync(TimeSpan.FromSeconds(5), Token);
        File.Exists(left).Should().BeFalse("the next admission deletes a pass nobody holds");
    }

    [Fact]
    public async Task AReleasedPassLeavesNoFileBehind()
    {
        MachineGate.Pass pass = await Enter(GateRole.Cluster);
        _folder.GetFiles("*.pass").Should().ContainSingle();
        pass.Dispose();
        _folder.GetFiles("*.pass").Should().BeEmpty();
    }
}
