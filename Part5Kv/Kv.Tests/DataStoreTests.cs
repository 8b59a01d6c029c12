// The data store on its own (upstream's kvservice/datastore_test.go).
using FluentAssertions;
using Kv.Service;
using Xunit;

namespace Kv.Tests;

public sealed class DataStoreTests
{
    [Fact]
    public void TestGetPut()
    {
        var ds = new DataStore();

        CheckGet(ds, "foo", "", false);
        CheckPutPrev(ds, "foo", "bar", "", false);
        CheckGet(ds, "foo", "bar", true);
        CheckPutPrev(ds, "foo", "baz", "bar", true);
        CheckGet(ds, "foo", "baz", true);
        CheckPutPrev(ds, "nix", "hard", "", false);
    }

    /// <summary>Beyond upstream, which tests Append only through the cluster.</summary>
    [Fact]
    public void TestAppend()
    {
        var ds = new DataStore();

        ds.Append("foo", "bar").Should().Be(("", false), "a missing key is created");
        CheckGet(ds, "foo", "bar", true);
        ds.Append("foo", "baz").Should().Be(("bar", true));
        CheckGet(ds, "foo", "barbaz", true);
        ds.Append("foo", "").Should().Be(("barbaz", true));
        CheckGet(ds, "foo", "barbaz", true);
    }

    [Fact]
    public void TestCASBasic()
    {
        var ds = new DataStore();
        ds.Put("foo", "bar");
        ds.Put("sun", "beam");

        // Only a matching compare value swaps.
        CheckCAS(ds, "foo", "mex", "bro", "bar", true);
        CheckCAS(ds, "foo", "bar", "bro", "bar", true);
        CheckGet(ds, "foo", "bro", true);

        // A missing key is never created by a CAS.
        CheckCAS(ds, "goa", "mm", "vv", "", false);
        CheckGet(ds, "goa", "", false);

        // Once the key exists, a CAS reports its value.
        ds.Put("goa", "tva");
        CheckCAS(ds, "goa", "mm", "vv", "tva", true);
        CheckCAS(ds, "goa", "mm", "vv", "tva", true);
    }

    [Fact]
    public async Task TestCASConcurrent()
    {
        var ds = new DataStore();
        ds.Put("foo", "bar");
        ds.Put("sun", "beam");

        // Two tasks flip the value back and forth; whenever it is read, it is one of the two.
        Task flip = Task.Run(() =>
        {
            for (int i = 0; i < 2000; i++)
            {
                ds.CAS("foo", "bar", "baz");
            }
        }, TestContext.Current.CancellationToken);
        Task flop = Task.Run(() =>
        {
            for (int i = 0; i < 2000; i++)
            {
                ds.CAS("foo", "baz", "bar");
            }
        }, TestContext.Current.CancellationToken);

        var (v, _) = ds.Get("foo");
        v.Should().BeOneOf("bar", "baz");
        await Task.WhenAll(flip, flop);
        (v, _) = ds.Get("foo");
        v.Should().BeOneOf("bar", "baz");
    }

    private static void CheckPutPrev(DataStore ds, string k, string v, string prev, bool hasPrev)
    {
        var (prevVal, ok) = ds.Put(k, v);
        ok.Should().Be(hasPrev, $"Put({k}, {v}) found");
        prevVal.Should().Be(prev, $"Put({k}, {v}) previous value");
    }

    private static void CheckGet(DataStore ds, string k, string v, bool found)
    {
        var (gotV, ok) = ds.Get(k);
        ok.Should().Be(found, $"Get({k}) found");
        gotV.Should().Be(v, $"Get({k}) value");
    }

    private static void CheckCAS(DataStore ds, string k, string comp, string v, string prev, bool found)
    {
        var (gotPrev, gotFound) = ds.CAS(k, comp, v);
        gotFound.Should().Be(found, $"CAS({k}, {comp}, {v}) found");
        gotPrev.Should().Be(prev, $"CAS({k}, {comp}, {v}) previous value");
    }
}
