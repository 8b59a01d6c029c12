// The player in a real browser, on a real recorded run: Part2's TestCommitOneCommand of seed 1
// (TestData/RecordedCommitOneCommand.trx, written by ./dotest.sh Part2 TestCommitOneCommand --seed 1).
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Interactions;
using OpenQA.Selenium.Support.UI;
using Xunit;

namespace TestLogViz;

public sealed class PlayerTests(SharedBrowser shared) : IDisposable
{
    /// <summary>The pages, thrown away after the test.</summary>
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("testlogviz-player-");

    /// <summary>From no leader to one leader, and 42 committed on every server by the end.</summary>
    [Fact]
    public async Task PlayerPlaysTheElectionAndTheCommit()
    {
        var browser = HeadlessBrowser.FindOrSkip();
        string page = Write(Recorded());

        using var turn = await shared.TakeAsync(browser);
        var driver = turn.Driver;
        driver.Navigate().GoToUrl(page);
        var wait = Wait(driver, "the player never drew the ring");
        wait.Until(d => Roles(d).Count == 3);

        // A passing run opens at its start: three followers of term 0, empty logs.
        Player(driver, "at").Should().Be(0);
        Roles(driver).Should().Equal("Follower", "Follower", "Follower");
        driver.FindElements(By.CssSelector("#player-logs .cell")).Should().BeEmpty();

        driver.ExecuteScript("const s = document.getElementById('player-speed'); s.value = '1'; s.dispatchEvent(new Event('change'));");
        driver.FindElement(By.Id("player-play")).Click();
        wait.Message = "the run did not play to its end at 1×";
        wait.Until(d => Player(d, "at") >= Player(d, "endMs") && d.FindElement(By.Id("player-play")).Text == "Play");

        Roles(driver).Should().Equal("Follower", "Follower", "Leader");
        foreach (var row in driver.FindElements(By.CssSelector("#player-logs .row[data-server]")))
        {
            var cells = row.FindElements(By.CssSelector(".cell"));
            cells.Should().ContainSingle($"server {row.GetAttribute("data-server")} holds the one entry");
            cells[0].GetAttribute("class").Should().Contain("committed").And.NotContain("uncommitted");
            cells[0].GetAttribute("data-term").Should().Be("1");
            cells[0].GetAttribute("title").Should().Contain("command: 42");
        }
        driver.FindElement(By.Id("player-step")).Text.Should().Contain("collectCommits(0) got CommitEntry { Command = 42");
    }

    /// <summary>Scrubbing to a moment shows the messages in flight then, forward and back again.</summary>
    [Fact]
    public async Task ScrubbingBackShowsTheVoteRequestsInFlight()
    {
        var browser = HeadlessBrowser.FindOrSkip();
        var log = Recorded();
        var votes = Events(log).Where(e => (string?)e["method"] == "RequestVote").ToList();
        var sent = votes.Where(e => (string?)e["step"] == "sent").ToList();
        sent.Should().HaveCount(2, "the candidate asks both others for their votes");
        double sentAt = (double)sent[0]["t"]!;
        double[] delivered = [.. votes.Where(e => (string?)e["step"] == "delivered").Select(e => (double)e["t"]!).Order()];
        string page = Write(log);

        using var turn = await shared.TakeAsync(browser);
        var driver = turn.Driver;
        driver.Navigate().GoToUrl(page);
        Wait(driver, "the player never drew the ring").Until(d => Roles(d).Count == 3);

        double both = (sentAt + delivered[0]) / 2, one = (delivered[0] + delivered[1]) / 2;
        string[] ids = [.. sent.Select(e => ((long)e["id"]!).ToString(CultureInfo.InvariantCulture))];
        List<string> Votes() => [.. InFlight(driver).Where(m => ids.Contains(m.Split(' ')[0]))];
        Scrub(driver, both);
        Votes().Should().BeEquivalentTo(ids.Select(id => $"{id} sending"), "both requests are on their way");
        Roles(driver).Should().Contain("Candidate");
        Scrub(driver, one);
        Votes().Should().ContainSingle("the first request has arrived and been answered");
        InFlight(driver).Should().HaveCountGreaterThan(1, "the new leader's first heartbeats are on their way");
        Scrub(driver, both);
        Votes().Should().HaveCount(2, "scrubbing back brings the first request back on its way");
        driver.FindElement(By.Id("player-time")).Text.Should().StartWith(both.ToString("0.0", CultureInfo.InvariantCulture) + " ms");

        // The arrow keys step an event back and forth.
        double before = Player(driver, "at");
        new Actions(driver).SendKeys(Keys.ArrowRight).Perform();
        Player(driver, "at").Should().BeGreaterThan(before);
        new Actions(driver).SendKeys(Keys.ArrowLeft).Perform();
        Player(driver, "at").Should().BeLessThanOrEqualTo(before);
        Scrub(driver, both);

        // A click on a request in flight shows its fields, as in the playground.
        driver.FindElement(By.CssSelector($"#player-ring circle.msg[data-msg='{ids[0]}']")).Click();
        driver.FindElement(By.Id("player-details-title")).Text.Should().Be($"Message #{ids[0]}: RequestVote");
        driver.FindElement(By.Id("player-fields")).Text.Should().Contain("on its way to the receiver").And.Contain("candidateId=2");
        BrowserTests.Screenshot(driver, "player-election");
    }

    /// <summary>A click on a table row moves the player to that row's moment and marks the row.</summary>
    [Fact]
    public async Task ClickingARowMovesThePlayer()
    {
        var browser = HeadlessBrowser.FindOrSkip();
        var log = Recorded();
        var wins = log.Lines.Single(l => l.Message.StartsWith("becomes Leader", StringComparison.Ordinal));
        double winsAt = TimeSpan.Parse(wins.Time, CultureInfo.InvariantCulture).TotalMilliseconds;
        string page = Write(log);

        using var turn = await shared.TakeAsync(browser);
        var driver = turn.Driver;
        driver.Navigate().GoToUrl(page);
        Wait(driver, "the player never drew the ring").Until(d => Roles(d).Count == 3);

        var cell = driver.FindElement(By.XPath("//tbody/tr/td[starts-with(., 'becomes Leader')]"));
        ((IJavaScriptExecutor)driver).ExecuteScript("arguments[0].scrollIntoView({block: 'center'});", cell);
        cell.Click();

        Player(driver, "at").Should().BeApproximately(winsAt, 0.001);
        Roles(driver)[int.Parse(wins.Id, CultureInfo.InvariantCulture)].Should().Be("Leader");
        cell.FindElement(By.XPath("..")).GetAttribute("class").Should().Contain("at-cursor");
    }

    /// <summary>
    /// A failing run opens where it broke: at a safety violation (planted here in the real
    /// recording) with its servers ringed, or else at the failed assertion.
    /// </summary>
    [Fact]
    public async Task AFailingRunOpensWhereItBroke()
    {
        var browser = HeadlessBrowser.FindOrSkip();
        var violated = Recorded();
        Plant(violated, new JsonObject { ["t"] = 300.0, ["type"] = "violation", ["text"] = "election safety: both 0 and 2 became leader in term 1", ["servers"] = new JsonArray(0, 2) });
        Plant(violated, new JsonObject { ["t"] = 350.0, ["type"] = "failure", ["text"] = "planted: the assertion after it" });
        var failed = Recorded();
        Plant(failed, new JsonObject { ["t"] = 350.0, ["type"] = "failure", ["text"] = "planted: cmd=42 not found in commits" });
        var applied = Recorded();
        Plant(applied, new JsonObject { ["t"] = 396.0, ["type"] = "violation", ["text"] = "state machine safety: server 0 applied 42 at index 0, server 1 applied 43", ["servers"] = new JsonArray(0, 1), ["index"] = 0 });
        string violatedPage = Write(violated, "Violated");
        string failedPage = Write(failed, "Failed");
        string appliedPage = Write(applied, "Applied");

        using var turn = await shared.TakeAsync(browser);
        var driver = turn.Driver;
        driver.Navigate().GoToUrl(violatedPage);
        Wait(driver, "the player never drew the ring").Until(d => Roles(d).Count == 3);
        Player(driver, "at").Should().Be(300);
        driver.FindElement(By.Id("player-alarm")).Text.Should().Be("Safety violated at 300.0 ms: election safety: both 0 and 2 became leader in term 1");
        driver.FindElements(By.CssSelector("#player-ring .server.violating")).Select(g => g.GetAttribute("data-id")).Should().Equal("0", "2");
        BrowserTests.Screenshot(driver, "player-violation");

        driver.Navigate().GoToUrl(failedPage);
        Wait(driver, "the player never drew the ring").Until(d => Roles(d).Count == 3);
        Player(driver, "at").Should().Be(350);
        driver.FindElement(By.Id("player-alarm")).Text.Should().Be("The test failed at 350.0 ms: planted: cmd=42 not found in commits");
        driver.FindElements(By.CssSelector("#player-ring .server.violating")).Should().BeEmpty();

        // Two commands at one index: the two servers' entries there are marked too.
        driver.Navigate().GoToUrl(appliedPage);
        Wait(driver, "the player never drew the ring").Until(d => Roles(d).Count == 3);
        Player(driver, "at").Should().Be(396);
        driver.FindElements(By.CssSelector("#player-logs .cell.violating")).Select(c => c.FindElement(By.XPath("ancestor::*[@data-server][1]")).GetAttribute("data-server"))
            .Should().BeEquivalentTo(["0", "1"], "the entries at index 0 of servers 0 and 1 clash");
    }

    /// <summary>The recorded run, parsed from its TRX.</summary>
    internal static ParsedLog Recorded()
    {
        var log = LogParser.Parse(File.ReadAllText(LogParserTests.DataPath("RecordedCommitOneCommand.trx"))).Single();
        log.Recording.Should().NotBeNull("the TRX holds the run's recording");
        return log;
    }

    private static IEnumerable<JsonNode> Events(ParsedLog log) => JsonNode.Parse(log.Recording!)!["events"]!.AsArray().Select(e => e!);

    /// <summary>Adds <paramref name="e"/> to the log's recording, after every event at or before its moment.</summary>
    private static void Plant(ParsedLog log, JsonObject e)
    {
        var rec = JsonNode.Parse(log.Recording!)!;
        var events = rec["events"]!.AsArray();
        double t = (double)e["t"]!;
        int at = events.Count(x => (double)x!["t"]! <= t);
        events.Insert(at, e);
        log.Recording = rec.ToJsonString();
        log.Status = "FAIL";
    }

    private string Write(ParsedLog log, string name = "Recorded")
    {
        string path = Path.Combine(_work.FullName, name + ".html");
        File.WriteAllText(path, PageWriter.Render(log, name));
        return new Uri(path).AbsoluteUri;
    }

    /// <summary>Moves the slider as a hand would: its value, then its input event.</summary>
    private static void Scrub(ChromeDriver driver, double ms) =>
        ((IJavaScriptExecutor)driver).ExecuteScript(
            "const s = document.getElementById('player-slider'); s.value = arguments[0]; s.dispatchEvent(new Event('input'));", ms);

    /// <summary>Each server's role on the ring, by id.</summary>
    private static List<string> Roles(IWebDriver driver) =>
        [.. driver.FindElements(By.CssSelector("#player-ring .server"))
            .OrderBy(g => int.Parse(g.GetAttribute("data-id")!, CultureInfo.InvariantCulture))
            .Select(g => g.GetAttribute("class")!.Split(' ')[1])];

    /// <summary>The messages on the ring: "id stage".</summary>
    private static List<string> InFlight(ChromeDriver driver) =>
        [.. driver.FindElements(By.CssSelector("#player-ring g.message")).Select(g => $"{g.GetAttribute("data-msg")} {g.GetAttribute("data-stage")}")];

    private static double Player(IWebDriver driver, string field) =>
        Convert.ToDouble(((IJavaScriptExecutor)driver).ExecuteScript($"return window.raftPlayer.{field};"), CultureInfo.InvariantCulture);

    private static WebDriverWait Wait(ChromeDriver driver, string message) =>
        new(driver, TimeSpan.FromSeconds(30)) { Message = message, PollingInterval = TimeSpan.FromMilliseconds(100) };

    public void Dispose() => _work.Delete(recursive: true);
}
