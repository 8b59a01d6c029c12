// The page in a real browser: headless Chromium driven through ChromeDriver, clicking what a
// learner would click and reading what the page shows, not the API's answers.
using System.Drawing;
using System.Globalization;
using FluentAssertions;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using TestLogViz;
using Xunit;

namespace RaftPlayground;

// One at a time, as they share the browser, but beside the "cluster" collection's tests: so two
// clusters run at once. What the tests wait for are states of the page, with deadlines far past
// what a loaded machine needs, and the one comparison of times (slow motion) allows a factor of two.
[Collection("browser")]
public sealed class BrowserTests(ITestOutputHelper output, SharedBrowser shared)
{
    /// <summary>
    /// Set to a folder, the ring-and-logs test saves the README's screenshots there as it goes
    /// (Tools/RaftPlayground/screenshots.sh sets it to Tools/RaftPlayground/screenshots).
    /// </summary>
    public const string ScreenshotsVariable = "RAFTPLAYGROUND_SCREENSHOTS";

    [Fact]
    public async Task PageShowsLeaderCrashAndReplication()
    {
        // Found before anything else, so a machine without a browser skips at once.
        BrowserSetup browser = HeadlessBrowser.FindOrSkip();
        using SharedBrowser.Turn turn = await shared.TakeAsync(browser);
        await using var p = await Playground.StartAsync(new PlaygroundOptions { Servers = 3, Port = 0, KvPortBase = 0 });

        ChromeDriver driver = turn.Driver;
        driver.Navigate().GoToUrl(p.Address);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(20)) { PollingInterval = TimeSpan.FromMilliseconds(100) };

        // One leader, on its card's colour and on its ribbon.
        wait.Message = "the page never showed exactly one leader among 3 cards";
        IWebElement leader = wait.Until(d =>
        {
            var cards = d.FindElements(By.CssSelector("#cards .card"));
            var leaders = cards.Where(c => c.GetDomAttribute("data-role") == "Leader").ToList();
            return cards.Count == 3 && leaders.Count == 1 ? leaders[0] : null;
        })!;
        string leaderId = leader.GetDomAttribute("id")!;
        leader.GetCssValue("background-color").Should().Be("rgba(211, 243, 225, 1)", "a leader's card is TestLogViz's leader green");
        wait.Message = "the timeline never showed a leader segment";
        wait.Until(d => d.FindElements(By.CssSelector("#lanes .seg.Leader")).Count > 0);

        // A click on the leader's crash button: the card turns dead, and another card leads.
        leader.FindElement(By.CssSelector("button[data-action=crash]")).Click();
        wait.Message = $"{leaderId} did not show as crashed after its crash button was clicked";
        wait.Until(d => d.FindElement(By.Id(leaderId)).GetDomAttribute("data-status") == "crashed");
        ShouldBeDead(driver, leaderId);
        wait.Message = "no other server became the leader on the page";
        wait.Until(d => d.FindElements(By.CssSelector("#cards .card[data-role=Leader][data-status=connected]"))
            .Any(c => c.GetDomAttribute("id") != leaderId));

        // A Put in the console: its answer, and the value in every running server's contents.
        driver.FindElement(By.CssSelector("#kv-op option[value=put]")).Click();
        driver.FindElement(By.Id("kv-key")).SendKeys("planet");
        driver.FindElement(By.Id("kv-value")).SendKeys("mars");
        driver.FindElement(By.Id("kv-run")).Click();
        wait.Message = "the console never showed the Put's answer";
        IWebElement answer = wait.Until(d => d.FindElements(By.CssSelector("#kv-results li[data-ok]")).FirstOrDefault())!;
        answer.GetDomAttribute("data-ok").Should().Be("true", answer.Text);
        answer.Text.Should().MatchRegex(@"^Put\(planet, mars\) … was \(no such key\) · server \d · [\d.]+ ms of cluster time$");

        wait.Message = "the running servers' contents never all showed planet=mars";
        wait.Until(d =>
        {
            var running = d.FindElements(By.CssSelector("#cards .card:not([data-status=crashed])"));
            return running.Count == 2 && running.All(c =>
                c.FindElements(By.CssSelector("tr[data-key=planet] td")).Select(td => td.Text).SequenceEqual(["planet", "mars"]));
        });
        driver.FindElement(By.Id(leaderId)).FindElements(By.CssSelector("tr[data-key]")).Should().BeEmpty("a crashed server shows no contents");
    }

    [Fact]
    public async Task PageShowsRingLogsAndPartition()
    {
        BrowserSetup browser = HeadlessBrowser.FindOrSkip();
        using SharedBrowser.Turn turn = await shared.TakeAsync(browser);
        await using var p = await Playground.StartAsync(new PlaygroundOptions { Servers = 5, Port = 0, KvPortBase = 0 });

        ChromeDriver driver = turn.Driver;
        driver.Manage().Window.Size = new Size(1180, 1100);
        driver.Navigate().GoToUrl(p.Address);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(20)) { PollingInterval = TimeSpan.FromMilliseconds(100) };

        // The ring: five servers, every pair linked, one leader drawn as such.
        wait.Message = "the ring never showed 5 servers, 10 links up and one leader";
        Shown start = wait.Until(d =>
        {
            Shown s = Shown.Read(d);
            return s.Servers.Count == 5 && s.Links.Count == 10 && s.Links.All(l => l == "up") && s.Servers.Count(v => v.Role == "Leader") == 1 ? s : null;
        })!;
        ShownServer leader = start.Servers.Single(v => v.Role == "Leader");

        // A Put: a cell of the leader's term on every server's row, with every commit marker on it.
        // (Its term, not the first leader's: on a loaded machine a follower may have timed out since.)
        Put(driver, "planet", "mars");
        wait.Message = $"the logs never showed the Put as a committed cell of the leader's term on every server";
        Shown put = wait.Until(d =>
        {
            Shown s = Shown.Read(d);
            if (s.Rows.Count != 5 || s.Rows.Any(r => r.Cells.Count == 0))
            {
                return null;
            }
            ShownCell last = s.Rows[0].Cells[^1];
            return last.Term >= leader.Term
                && s.Rows.All(r => r.Cells[^1] == last && r.Commit == last.Index && r.Cells.Single(c => c.Commit).Index == last.Index) ? s : null;
        })!;
        leader = put.Servers.FirstOrDefault(v => v.Role == "Leader" && v.Term == put.Rows[0].Cells[^1].Term) ?? leader;
        put.Rows.SelectMany(r => r.Cells).Should().OnlyContain(c => c.Committed, "everything is committed once every marker is on the Put");

        // A click on the leader shows its state, with what it knows of each follower.
        wait.Message = "a click on the leader did not show its state";
        ClickServer(wait, leader.Id);
        // Its state, with what it knows of each follower (if it is still the leader: a loaded machine can make a follower time out).
        wait.Until(d =>
        {
            Shown s = Shown.Read(d);
            bool leads = s.Servers.Single(v => v.Id == leader.Id).Role == "Leader";
            return d.FindElement(By.Id("details-title")).Text == $"Server {leader.Id}"
                && d.FindElement(By.Id("details-fields")).Text.Contains(leads ? "Leader" : "", StringComparison.Ordinal)
                && d.FindElement(By.Id("progress")).Displayed == leads
                && (!leads || d.FindElements(By.CssSelector("#progress tbody tr")).Count == 4);
        });
        Screenshot(driver, "playground-put.png");

        // A partition from the page: {leader, one follower} | the other three.
        int follower = (leader.Id + 1) % 5;
        int[] minority = [leader.Id, follower];
        int[] majority = [.. Enumerable.Range(0, 5).Except(minority)];
        foreach (int id in Enumerable.Range(0, 5))
        {
            driver.FindElement(By.CssSelector($"#groups select[data-server='{id}'] option[value='{(minority.Contains(id) ? "B" : "A")}']")).Click();
        }
        driver.FindElement(By.Id("partition-run")).Click();
        wait.Message = "the ring never drew the six links between the groups cut";
        wait.Until(d =>
        {
            Shown s = Shown.Read(d);
            return s.Links.Count(l => l == "cut") == 6 && s.Links.Count(l => l == "up") == 4 && s.CutMarks == 6;
        });
        // Cut off, the two can commit nothing more, nor learn of anything committed: the most either knows now is the most they will.
        IReadOnlyList<ServerView> cards = await p.ReadAsync(c => c.Views());
        int commitBefore = minority.Max(id => cards[id].CommitIndex);

        // The majority elects a leader of a higher term, and commits a Put; the minority commits nothing new.
        wait.Message = "no new leader in the majority on the ring";
        ShownServer fresh = wait.Until(d => Shown.Read(d).Servers.FirstOrDefault(v => majority.Contains(v.Id) && v.Role == "Leader" && v.Term > leader.Term))!;
        ClickServer(wait, fresh.Id);
        Put(driver, "planet", "jupiter");
        wait.Message = "the majority's commit markers never moved past the partition's";
        Shown split = wait.Until(d =>
        {
            Shown s = Shown.Read(d);
            return majority.All(id => s.Rows[id].Commit > commitBefore) ? s : null;
        })!;
        minority.Should().OnlyContain(id => split.Rows[id].Commit <= commitBefore, "a leader with one follower of five commits nothing");
        Screenshot(driver, "playground-partition.png");

        // What the page costs: the stream's bytes and the time to draw each update.
        var stats = (Dictionary<string, object>)driver.ExecuteScript("return window.playgroundStats")!;
        double updates = Convert.ToDouble(stats["updates"], CultureInfo.InvariantCulture);
        double drawMs = Convert.ToDouble(stats["drawMs"], CultureInfo.InvariantCulture) / updates;
        output.WriteLine($"{updates} updates, {Convert.ToDouble(stats["bytes"], CultureInfo.InvariantCulture) / updates / 1000:0.0} KB each on average; drawing took {drawMs:0.0} ms on average, {Convert.ToDouble(stats["maxDrawMs"], CultureInfo.InvariantCulture):0.0} ms at most");
        drawMs.Should().BeLessThan(100, "the page keeps up with four updates a second");
    }

    [Fact]
    public async Task PageShowsFigure7Scenario()
    {
        BrowserSetup browser = HeadlessBrowser.FindOrSkip();
        using SharedBrowser.Turn turn = await shared.TakeAsync(browser);
        // The scenario is held at the end of step 6 (the old leader crashed with its three
        // entries, the new leader's two committed over them) until the page has been looked at.
        var atStep6 = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var looked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var p = await Playground.StartAsync(new PlaygroundOptions
        {
            Servers = 5,
            Port = 0,
            KvPortBase = 0,
            ScenarioPause = TimeSpan.FromMilliseconds(50),
            ScenarioStepHook = async view =>
            {
                if (view.Step == 6)
                {
                    atStep6.TrySetResult();
                    await looked.Task.WaitAsync(TimeSpan.FromSeconds(60));
                }
            },
        });
        try
        {
            ChromeDriver driver = turn.Driver;
            driver.Manage().Window.Size = new Size(1180, 1100);
            driver.Navigate().GoToUrl(p.Address);
            var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(30)) { PollingInterval = TimeSpan.FromMilliseconds(100) };

            wait.Message = "the page never offered the Figure 7 scenario";
            wait.Until(d => d.FindElements(By.CssSelector("#scenario-buttons button[data-scenario='figure-7']")).Any(b => b.Enabled));
            driver.FindElement(By.CssSelector("#scenario-buttons button[data-scenario='figure-7']")).Click();
            await atStep6.Task.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

            // On the page: the crashed old leader's row ends in three dashed cells of its term,
            // where the new leader's row has committed cells of a higher term.
            int old = (await p.ReadAsync(c => c.Views())).Single(c => c.Status == "crashed").Id;
            wait.Message = "the page never showed the old leader's three uncommitted entries beside the new leader's committed ones";
            wait.Until(d =>
            {
                Shown s = Shown.Read(d);
                if (d.FindElement(By.Id("scenario-text")).GetDomAttribute("data-step") != "6" || s.Rows.Count != 5 || s.Rows[old].Cells.Count < 4)
                {
                    return false;
                }
                ShownServer? leads = s.Servers.Where(v => v.Role == "Leader").MaxBy(v => v.Term);
                var stale = s.Rows[old].Cells.TakeLast(3).ToList();
                return leads is not null && stale.All(c => !c.Committed && c.Term == stale[0].Term)
                    && stale.Take(2).All(c => s.Rows[leads.Id].Cells.Any(l => l.Index == c.Index && l.Committed && l.Term > c.Term));
            });
            driver.FindElement(By.Id("scenario-text")).Text.Should().StartWith("Uncommitted entries overwritten (Figure 7), step 6 of 8: ");
            Screenshot(driver, "playground-figure7.png");
            looked.TrySetResult();

            // At the end the old leader's row is the new leader's, every cell committed.
            wait.Message = "the scenario never ended with every log the same on the page";
            wait.Until(d =>
            {
                Shown s = Shown.Read(d);
                return d.FindElement(By.Id("scenario-text")).Text.Contains(" — Done: ", StringComparison.Ordinal)
                    && s.Rows.All(r => r.Cells.All(c => c.Committed) && r.Cells.Select(c => c.Term).SequenceEqual(s.Rows[0].Cells.Select(c => c.Term)));
            });
        }
        finally
        {
            looked.TrySetResult();
        }
    }

    [Fact]
    public async Task PageSlowMotionPauseStepAndMessages()
    {
        BrowserSetup browser = HeadlessBrowser.FindOrSkip();
        using SharedBrowser.Turn turn = await shared.TakeAsync(browser);
        await using var p = await Playground.StartAsync(new PlaygroundOptions { Servers = 3, Port = 0, KvPortBase = 0 });
        using var api = new ApiClient(p.Address);

        ChromeDriver driver = turn.Driver;
        driver.Manage().Window.Size = new Size(1180, 1000);
        driver.Navigate().GoToUrl(p.Address);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(30)) { PollingInterval = TimeSpan.FromMilliseconds(20) };

        // An election at 1x, then one at 1/10x, each timed on the page from the crash click to the new leader's card.
        var (wall1, cluster1) = TimeElection(driver, wait);
        int crashed = int.Parse(driver.FindElement(By.CssSelector("#cards .card[data-status=crashed]")).GetDomAttribute("id")!["server-".Length..], CultureInfo.InvariantCulture);
        (await api.PostAsync($"servers/{crashed}/restart")).Status.Should().Be(200);
        driver.FindElement(By.CssSelector("#speed option[value='0.1']")).Click();
        wait.Message = "the page never said it runs at 1/10";
        wait.Until(d => d.FindElement(By.Id("clock-state")).Text == "at 1/10×");
        await api.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        var (wall10, cluster10) = TimeElection(driver, wait);
        output.WriteLine(FormattableString.Invariant(
            $"election from the crash click to the new leader on the page: {wall1:0} ms of real time ({cluster1:0} ms of cluster time) at 1x, {wall10:0} ms ({cluster10:0} ms) at 1/10x"));
        // A follower's countdown began at the last heartbeat, up to 50 ms before the crash, so
        // the new leader comes at least 150 - 50 = 100 ms of cluster time later: 1 s at 1/10.
        wall10.Should().BeGreaterThanOrEqualTo(1000, "at 1/10 even the shortest wait for an election (a 150 ms timeout less a 50 ms heartbeat interval) is 1 s of real time");
        // Against 1x: the two elections last different cluster times (the timeouts are random), so
        // each is taken per ms of the cluster time it took; at 1/10 that ms is 10 times longer.
        double perMs1 = wall1 / Math.Max(cluster1, 1), perMs10 = wall10 / Math.Max(cluster10, 1);
        (perMs10 / perMs1).Should().BeGreaterThanOrEqualTo(5,
            "per ms of cluster time, an election at 1/10 takes 10 times the real time it takes at 1x ({0:0.00} ms against {1:0.00} ms)", perMs10, perMs1);

        // Paused: over four more updates (a second) nothing on the page changes: cluster time, terms,
        // logs, timers, messages.
        driver.FindElement(By.Id("pause")).Click();
        wait.Message = "the page never showed the clock paused";
        wait.Until(d => d.FindElement(By.Id("clock-state")).Text == "paused" && d.FindElement(By.Id("step-10")).Enabled);
        // What the clock's last timers set going may still land in the next update or so: first
        // the page stands still from one update to the next (as ApiClient.SettledStateAsync).
        string frozen = "";
        long settledAt = -1;
        wait.Message = "the paused page never stood still from one update to the next";
        wait.Until(d =>
        {
            long now = Updates(d);
            if (now == settledAt)
            {
                return false;
            }
            string shown = Frozen(d);
            bool same = shown == frozen;
            (frozen, settledAt) = (shown, now);
            return same;
        });
        long updates = settledAt;
        wait.Message = "the page stopped getting updates while paused";
        wait.Until(d => Updates(d) >= updates + 4);
        Frozen(driver).Should().Be(frozen, "nothing moves while the clock is paused");

        // +10 ms moves the page's cluster time by 10 ms; steps to the next timer bring the next message.
        double t0 = ClusterTime(driver);
        driver.FindElement(By.Id("step-10")).Click();
        wait.Message = "the page's cluster time never moved on by the 10 ms step";
        wait.Until(d => Math.Abs(ClusterTime(d) - (t0 + 10)) < 0.11);
        // Steps to the next timer until one has sent a message that is not due yet: paused, it
        // stays on its way until a later step. The API says at once whether a step sent one (a
        // heartbeat goes out just after its timer fires, from the leader's loop): a step that sent
        // none is followed by the next, and the page is then waited for to show the one sent.
        long? messageId = null;
        var steps = new List<string>();
        for (int i = 0; i < 60 && messageId is null; i++)
        {
            ((IJavaScriptExecutor)driver).ExecuteScript("document.getElementById('notice').textContent = ''");
            driver.FindElement(By.Id("step-timer")).Click();
            // The step is answered once its timers fired ("stepped 2.9 ms to 5301.287 ms ...").
            wait.Message = "the page never showed the answer to a step";
            string answer = wait.Until(d => d.FindElement(By.Id("notice")).Text is var t && t.StartsWith("stepped", StringComparison.Ordinal) ? t : null)!;
            PlaygroundState now = await api.StateAsync();
            messageId = now.Messages.Shown.FirstOrDefault(m => m.Stage == "sending" && m.DueMs > now.Clock.TimeMs + 0.1)?.Id;
            steps.Add(answer + " | on their way: " + string.Join(", ", now.Messages.Shown.Where(m => m.EndMs is null)
                .Select(m => FormattableString.Invariant($"#{m.Id} {m.Stage} due {m.DueMs}"))));
        }
        output.WriteLine($"{steps.Count} steps to a message on its way; the last: {steps.LastOrDefault()}");
        messageId.Should().NotBeNull("a heartbeat goes out within 60 timer steps (ten heartbeat intervals); the steps were:\n{0}", string.Join("\n", steps));
        wait.Message = $"the page never showed message {messageId} on its way";
        wait.Until(d => d.FindElements(By.CssSelector($"#ring g.message[data-msg='{messageId}'][data-stage=sending]")).Count > 0);

        // A click on it shows its fields; Drop loses it in flight.
        string seen = "";
        try
        {
            wait.Until(d =>
            {
                try
                {
                    d.FindElement(By.CssSelector($"#ring g.message[data-msg='{messageId}']")).Click();
                    return true;
                }
                catch (Exception e) when (e is StaleElementReferenceException or NoSuchElementException)
                {
                    seen = e.GetType().Name + ": " + (string)((IJavaScriptExecutor)d).ExecuteScript("return document.querySelector('#ring > g:last-child').innerHTML")!;
                    return false;
                }
            });
        }
        catch (WebDriverTimeoutException)
        {
            Assert.Fail($"message {messageId} could not be clicked; the ring's messages: {seen}");
        }
        wait.Message = "a click on a message in flight never showed its fields";
        wait.Until(d => d.FindElement(By.Id("details-title")).Text.StartsWith("Message #", StringComparison.Ordinal));
        string fields = driver.FindElement(By.Id("details-fields")).Text;
        fields.Should().Contain("term=").And.Contain("on its way to the receiver");
        Screenshot(driver, "playground-message.png");
        driver.FindElement(By.Id("msg-drop")).Click();
        wait.Message = "the dropped message never showed as lost";
        wait.Until(d => d.FindElement(By.Id("details-fields")).Text.Contains("lost before the receiver's handler", StringComparison.Ordinal));
        driver.FindElement(By.Id("details-fields")).Text.Should().Contain("dropped in flight");

        // Resumed at full speed, the cluster goes on.
        driver.FindElement(By.Id("pause")).Click();
        driver.FindElement(By.CssSelector("#speed option[value='1']")).Click();
        await api.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Crashes the leader from its card, and times (in real and in the page's cluster time) until the page shows another leader.</summary>
    private static (double WallMs, double ClusterMs) TimeElection(ChromeDriver driver, WebDriverWait wait)
    {
        wait.Message = "the page never showed one connected leader";
        IWebElement leader = wait.Until(d => d.FindElements(By.CssSelector("#cards .card[data-role=Leader][data-status=connected]")).SingleOrDefault())!;
        string id = leader.GetDomAttribute("id")!;
        double cluster0 = ClusterTime(driver);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        leader.FindElement(By.CssSelector("button[data-action=crash]")).Click();
        wait.Message = $"no leader other than {id} showed on the page";
        wait.Until(d => d.FindElements(By.CssSelector("#cards .card[data-role=Leader][data-status=connected]")).Any(c => c.GetDomAttribute("id") != id));
        return (watch.Elapsed.TotalMilliseconds, ClusterTime(driver) - cluster0);
    }

    /// <summary>How many updates the page has drawn.</summary>
    private static long Updates(IWebDriver d) =>
        Convert.ToInt64(((IJavaScriptExecutor)d).ExecuteScript("return window.playgroundStats.updates"), CultureInfo.InvariantCulture);

    /// <summary>The page's cluster time, in ms.</summary>
    private static double ClusterTime(IWebDriver d)
    {
        string text = d.FindElement(By.Id("cluster-time")).Text;
        double v = double.Parse(text.Split(' ')[0], CultureInfo.InvariantCulture);
        return text.EndsWith(" s", StringComparison.Ordinal) ? v * 1000 : v;
    }

    /// <summary>Everything on the page that moves with the cluster: its time, the ring (timers and messages included), the logs, the cards.</summary>
    private static string Frozen(IWebDriver d) => (string)((IJavaScriptExecutor)d).ExecuteScript("""
        return [document.getElementById("cluster-time").textContent, document.getElementById("ring").innerHTML,
                document.getElementById("log-rows").innerHTML, document.getElementById("cards").innerText,
                document.getElementById("lanes").innerHTML].join("\n");
        """)!;

    /// <summary>Clicks server <paramref name="id"/> on the ring, again if it was redrawn under the click.</summary>
    private static void ClickServer(WebDriverWait wait, int id) => wait.Until(d =>
    {
        try
        {
            d.FindElement(By.CssSelector($"#ring .server[data-id='{id}']")).Click();
            return true;
        }
        catch (StaleElementReferenceException)
        {
            return false;
        }
    });

    /// <summary>A Put through the page's console, waiting for its answer, which must be a success.</summary>
    private static void Put(ChromeDriver driver, string key, string value)
    {
        int before = driver.FindElements(By.CssSelector("#kv-results li")).Count;
        driver.FindElement(By.CssSelector("#kv-op option[value=put]")).Click();
        driver.FindElement(By.Id("kv-key")).Clear();
        driver.FindElement(By.Id("kv-key")).SendKeys(key);
        driver.FindElement(By.Id("kv-value")).Clear();
        driver.FindElement(By.Id("kv-value")).SendKeys(value);
        driver.FindElement(By.Id("kv-run")).Click();
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(20)) { PollingInterval = TimeSpan.FromMilliseconds(100), Message = $"the console never answered Put({key}, {value})" };
        IWebElement answer = wait.Until(d =>
        {
            var items = d.FindElements(By.CssSelector("#kv-results li"));
            return items.Count > before && items[0].GetDomAttribute("data-ok") is not null ? items[0] : null;
        })!;
        answer.GetDomAttribute("data-ok").Should().Be("true", answer.Text);
    }

    /// <summary>Saves the window as <paramref name="name"/> in the folder <see cref="ScreenshotsVariable"/> names, if it names one.</summary>
    private static void Screenshot(ChromeDriver driver, string name)
    {
        if (Environment.GetEnvironmentVariable(ScreenshotsVariable) is { Length: > 0 } folder)
        {
            Directory.CreateDirectory(folder);
            driver.GetScreenshot().SaveAsFile(Path.Combine(folder, name));
        }
    }

    private static void ShouldBeDead(ChromeDriver driver, string cardId) =>
        driver.FindElement(By.Id(cardId)).GetCssValue("background-color").Should().Be("rgba(226, 226, 226, 1)", "a crashed server's card is TestLogViz's dead grey");

    /// <summary>What the page shows of the ring and the logs, read in one script so that no redraw falls between two reads.</summary>
    private sealed record Shown(IReadOnlyList<ShownServer> Servers, IReadOnlyList<string> Links, int CutMarks, IReadOnlyList<ShownRow> Rows)
    {
        private const string Script = """
            const q = (root, s) => [...root.querySelectorAll(s)];
            return JSON.stringify({
              servers: q(document, "#ring .server").map(g => ({ id: +g.dataset.id, term: +g.querySelector("circle").dataset.term,
                role: [...g.classList].find(c => ["Leader", "Candidate", "Follower", "Dead"].includes(c)) })),
              links: q(document, "#ring line.link").map(l => l.dataset.state),
              cutMarks: q(document, "#ring .cut-mark").length,
              rows: q(document, "#log-rows .row[data-server]").map(r => ({ server: +r.dataset.server, commit: +r.dataset.commit,
                cells: q(r, ".cell").map(c => ({ index: +c.dataset.index, term: +c.dataset.term,
                  committed: c.classList.contains("committed"), commit: c.classList.contains("commit") })) })),
            });
            """;

        private static readonly System.Text.Json.JsonSerializerOptions Json = new(System.Text.Json.JsonSerializerDefaults.Web);

        public static Shown Read(IWebDriver d) =>
            System.Text.Json.JsonSerializer.Deserialize<Shown>((string)((IJavaScriptExecutor)d).ExecuteScript(Script)!, Json)!;
    }

    private sealed record ShownServer(int Id, int Term, string Role);

    private sealed record ShownRow(int Server, int Commit, IReadOnlyList<ShownCell> Cells);

    private sealed record ShownCell(int Index, int Term, bool Committed, bool Commit);
}
