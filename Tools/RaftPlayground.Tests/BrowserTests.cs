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
    /// Set to a folder, the tests that take the README's screenshots save them there as they go
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

    [Fact]
    public async Task PageTimeTravelsToTheFirstElectionAndContinuesFromThere()
    {
        BrowserSetup browser = HeadlessBrowser.FindOrSkip();
        using SharedBrowser.Turn turn = await shared.TakeAsync(browser);
        await using var p = await Playground.StartAsync(new PlaygroundOptions { Servers = 5, Port = 0, KvPortBase = 0, Seed = 5, StartPaused = true });
        using var api = new ApiClient(p.Address);

        ChromeDriver driver = turn.Driver;
        SetViewport(driver, 1600, 1000);
        driver.Navigate().GoToUrl(p.Address);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(30)) { PollingInterval = TimeSpan.FromMilliseconds(50) };
        wait.Message = "the page never showed seed 5, paused";
        wait.Until(d => d.FindElement(By.Id("tt-seed")).Text == "seed 5" && d.FindElement(By.Id("clock-state")).Text == "paused");

        // Stepped on until the first leader; the page follows.
        ServerView? first = null;
        for (int i = 0; i < 30 && first is null; i++)
        {
            (await api.PostAsync("clock/step", new { ms = 100 })).Status.Should().Be(200);
            first = (await api.StateAsync()).Cards.FirstOrDefault(c => c.Role == "Leader");
        }
        first.Should().NotBeNull("a leader is elected within 3 s of cluster time");
        wait.Message = "the page never showed the first leader on the ring";
        wait.Until(d => Shown.Read(d).Servers.Any(v => v.Id == first!.Id && v.Role == "Leader"));

        // A moment of the first election, found through the API: a candidate, and its RequestVotes on their way.
        int at = await CandidateMomentAsync(api);

        // The slider moved back there with the keyboard, a ms a key: the page draws that moment.
        IWebElement slider = driver.FindElement(By.Id("tt-slider"));
        slider.SendKeys(Keys.Home);
        slider.SendKeys(string.Concat(Enumerable.Repeat(Keys.ArrowRight, at)));
        string moment = (at / 1000.0).ToString("0.000", CultureInfo.InvariantCulture) + " s";
        wait.Message = $"the page never drew the cluster as it was at {moment}";
        wait.Until(d =>
        {
            IWebElement banner = d.FindElement(By.Id("past-banner"));
            Shown s = Shown.Read(d);
            return banner.Displayed && banner.Text.Contains($"as it was at {moment}", StringComparison.Ordinal)
                && s.Servers.Any(v => v.Role == "Candidate")
                && d.FindElements(By.CssSelector("#ring g.message[data-stage=sending] circle.msg.rv")).Count > 0
                && d.FindElements(By.CssSelector("#cards .card[data-role=Candidate]")).Count == 1;
        });
        driver.FindElement(By.Id("past-banner")).Text.Should().Contain("the live run is at");
        output.WriteLine($"at {at} ms: {driver.FindElement(By.Id("past-banner")).Text}");
        FitsTheWindow(driver, "in the past, under its banner");
        Screenshot(driver, "time-travel.png");

        // Continue from here: a new run, paused at that moment, drawn live again.
        driver.FindElement(By.Id("tt-continue")).Click();
        wait.Message = $"the page never came back live, paused at {at} ms";
        wait.Until(d => !d.FindElement(By.Id("past-banner")).Displayed
            && d.FindElement(By.Id("clock-state")).Text == "paused"
            && d.FindElement(By.Id("cluster-time")).Text == $"{at}.0 ms"
            && d.FindElement(By.Id("notice")).Text.StartsWith($"continuing from {at} ms", StringComparison.Ordinal));
        (await api.StateAsync()).Clock.Should().Match<ClockView>(c => c.TimeMs == at && c.Paused && c.Run == 2);

        // At 1/20 from there, the election ends as it did: the same seed and inputs make the same run.
        driver.FindElement(By.CssSelector("#speed option[value='0.05']")).Click();
        wait.Message = "the page never said it runs at 1/20";
        wait.Until(d => d.FindElement(By.Id("clock-state")).Text == "paused" && Math.Abs((double)((IJavaScriptExecutor)d).ExecuteScript("return Number(document.getElementById('speed').value)")! - 0.05) < 1e-9);
        driver.FindElement(By.Id("pause")).Click();
        wait.Message = "no leader appeared on the page after resuming at 1/20";
        ShownServer leader = wait.Until(d => Shown.Read(d).Servers.FirstOrDefault(v => v.Role == "Leader"))!;
        leader.Should().Be(new ShownServer(first!.Id, first.Term, "Leader"), "the run from the fork is the run it was forked from");
        driver.FindElement(By.Id("clock-state")).Text.Should().Be("at 1/20×");
    }

    [Fact]
    public async Task PageServerMenuCrashesAndPicksTheConsolesServer()
    {
        BrowserSetup browser = HeadlessBrowser.FindOrSkip();
        using SharedBrowser.Turn turn = await shared.TakeAsync(browser);
        await using var p = await Playground.StartAsync(new PlaygroundOptions { Servers = 5, Port = 0, KvPortBase = 0 });

        ChromeDriver driver = turn.Driver;
        SetViewport(driver, 1600, 1000);
        driver.Navigate().GoToUrl(p.Address);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(20)) { PollingInterval = TimeSpan.FromMilliseconds(100) };
        wait.Message = "the ring never showed a leader";
        ShownServer leader = wait.Until(d => Shown.Read(d).Servers.SingleOrDefault(v => v.Role == "Leader"))!;

        // No server selected, no menu; the leader clicked, its menu offers what a running server can undergo.
        driver.FindElement(By.Id("server-menu")).Displayed.Should().BeFalse();
        ClickServer(wait, leader.Id);
        wait.Message = $"the details never showed server {leader.Id}'s menu";
        wait.Until(d => d.FindElement(By.Id("details-title")).Text == $"Server {leader.Id}" && d.FindElement(By.Id("server-menu")).Displayed);
        MenuButtons(driver).Should().Equal("Crash", "Disconnect", "Send console requests here");

        driver.FindElement(By.CssSelector("#server-menu button[data-action=crash]")).Click();
        wait.Message = $"server {leader.Id} never showed as crashed after its menu's Crash";
        wait.Until(d => d.FindElement(By.Id($"server-{leader.Id}")).GetDomAttribute("data-status") == "crashed"
            && d.FindElement(By.CssSelector($"#ring .server[data-id='{leader.Id}'] .role")).Text == "crashed");
        ShouldBeDead(driver, $"server-{leader.Id}");
        wait.Message = "the crashed server's menu never offered Restart alone";
        wait.Until(d => MenuButtons(d).SequenceEqual(["Restart", "Send console requests here"]));

        // Another server picked for the console: a Put goes there first, and its answer says so.
        int other = (leader.Id + 2) % 5;
        ClickServer(wait, other);
        wait.Message = $"the details never showed server {other}'s menu";
        wait.Until(d => d.FindElement(By.Id("details-title")).Text == $"Server {other}" && MenuButtons(d).Contains("Crash"));
        driver.FindElement(By.Id("send-here")).Click();
        driver.FindElement(By.Id("kv-server")).GetDomProperty("value").Should().Be($"{other}", "the console's picker names the server");
        Put(driver, "moon", "io");
        driver.FindElement(By.CssSelector("#kv-results li")).Text.Should().MatchRegex($@"^Put\(moon, io\) to S{other} first … was \(no such key\) · server \d · [\d.]+ ms of cluster time$");
    }

    [Fact]
    public async Task PageFits1600x1000()
    {
        BrowserSetup browser = HeadlessBrowser.FindOrSkip();
        using SharedBrowser.Turn turn = await shared.TakeAsync(browser);
        await using var p = await Playground.StartAsync(new PlaygroundOptions { Servers = 5, Port = 0, KvPortBase = 0, Seed = 5 });

        ChromeDriver driver = turn.Driver;
        SetViewport(driver, 1600, 1000);
        driver.Navigate().GoToUrl(p.Address);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(20)) { PollingInterval = TimeSpan.FromMilliseconds(100) };
        wait.Message = "the ring never showed a leader";
        ShownServer leader = wait.Until(d => Shown.Read(d).Servers.SingleOrDefault(v => v.Role == "Leader"))!;

        // As a learner would leave it: a few entries in the logs, the leader's state and menu beside the ring.
        Put(driver, "planet", "mars");
        Put(driver, "moon", "io");
        ClickServer(wait, leader.Id);
        wait.Message = "the leader's details and menu never showed";
        wait.Until(d => d.FindElement(By.Id("server-menu")).Displayed && d.FindElement(By.Id("progress")).Displayed);
        wait.Message = "the logs never showed the two Puts";
        wait.Until(d => Shown.Read(d).Rows.All(r => r.Cells.Count >= 2));
        FitsTheWindow(driver, "live, a leader selected");
        Screenshot(driver, "fit-1600x1000.png");
    }

    [Fact]
    public async Task PageDrawsAReplyOnItsWayBack()
    {
        BrowserSetup browser = HeadlessBrowser.FindOrSkip();
        using SharedBrowser.Turn turn = await shared.TakeAsync(browser);
        await using var p = await Playground.StartAsync(new PlaygroundOptions { Servers = 5, Port = 0, KvPortBase = 0, Seed = 5, StartPaused = true });
        using var api = new ApiClient(p.Address);

        ChromeDriver driver = turn.Driver;
        SetViewport(driver, 1600, 1000);
        driver.Navigate().GoToUrl(p.Address);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(20)) { PollingInterval = TimeSpan.FromMilliseconds(50) };

        // Paused and stepped a ms at a time until a reply is half way: sent back before now, due after it.
        MessageView? reply = null;
        PlaygroundState state = await api.StateAsync();
        for (int i = 0; i < 600 && reply is null; i++)
        {
            (await api.PostAsync("clock/step", new { ms = 1 })).Status.Should().Be(200);
            state = await api.StateAsync();
            double now = state.Clock.TimeMs;
            reply = state.Messages.Shown.FirstOrDefault(m => m.Stage == "replying" && m.RepliedMs is double r && m.DueMs is double due
                && (now - r) / (due - r) is > 0.1 and < 0.9);
        }
        reply.Should().NotBeNull("within 600 ms of cluster time some reply is on its way back at a whole ms");
        double f = (state.Clock.TimeMs - reply!.RepliedMs!.Value) / (reply.DueMs!.Value - reply.RepliedMs.Value);
        output.WriteLine(FormattableString.Invariant($"at {state.Clock.TimeMs} ms: #{reply.Id} {reply.Method} reply {reply.To} → {reply.From}, replied at {reply.RepliedMs} ms, due {reply.DueMs} ms: {f:0.00} of the way"));

        // On the page, its dot is on the link, past the edge of the server that replied and short of the other's.
        wait.Message = $"the page never drew the reply to message {reply.Id} on its way";
        var (dot, replier, asker) = wait.Until(d =>
        {
            var shape = d.FindElements(By.CssSelector($"#ring g.message[data-msg='{reply.Id}'][data-stage=replying] circle.msg.reply"));
            return shape.Count == 1 && d.FindElement(By.Id("cluster-time")).Text == FormattableString.Invariant($"{state.Clock.TimeMs:0.0} ms")
                ? new Dot(Point(shape[0], "cx", "cy"), Centre(d, reply.To), Centre(d, reply.From)) : null;
        })!;
        double length = Distance(replier, asker);
        double along = ((dot.X - replier.X) * (asker.X - replier.X) + (dot.Y - replier.Y) * (asker.Y - replier.Y)) / length;
        double off = Math.Abs((dot.X - replier.X) * (asker.Y - replier.Y) - (dot.Y - replier.Y) * (asker.X - replier.X)) / length;
        output.WriteLine(FormattableString.Invariant($"dot at ({dot.X:0.0}, {dot.Y:0.0}), {along:0.0} of {length:0.0} px from S{reply.To} to S{reply.From}, {off:0.00} px off the line"));
        off.Should().BeLessThan(0.5, "the reply travels along the link");
        // A server's circle is 31 px across, and a dot sets out 38 px from its centre.
        along.Should().BeGreaterThan(38.5, "the reply has left the server that replied").And.BeLessThan(length - 38.5, "the reply has not reached the server that asked");
        double expected = 38 + (length - 76) * f;
        along.Should().BeApproximately(expected, 2, "it is {0:0.00} of the way at the page's cluster time", f);
    }

    /// <summary>The first whole ms (from the API's states of the past) at which a server is a candidate with a RequestVote on its way.</summary>
    private static async Task<int> CandidateMomentAsync(ApiClient api)
    {
        var json = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web);
        async Task<PlaygroundState> At(int ms) =>
            (await System.Net.Http.Json.HttpClientJsonExtensions.GetFromJsonAsync<PlaygroundState>(api.Http, $"api/state?atMs={ms}", json, TestContext.Current.CancellationToken))!;
        // Every 10 ms until the first term begins, then each ms of the 10 before and after.
        int t = 0;
        while ((await At(t)).Cards.All(c => c.Term == 0))
        {
            t += 10;
        }
        for (int ms = Math.Max(0, t - 10); ms <= t + 10; ms++)
        {
            PlaygroundState s = await At(ms);
            if (s.Cards.Any(c => c.Role == "Candidate") && s.Messages.Shown.Any(m => m.Method == "RequestVote" && m.Stage == "sending" && m.DueMs > ms))
            {
                return ms;
            }
        }
        throw new InvalidOperationException($"no moment from {t - 10} to {t + 10} ms had a candidate with a RequestVote on its way");
    }

    /// <summary>The labels of the selected server's menu's buttons that show.</summary>
    private static IReadOnlyList<string> MenuButtons(IWebDriver d) =>
        [.. d.FindElements(By.CssSelector("#server-menu button")).Where(b => b.Displayed).Select(b => b.Text)];

    /// <summary>Sizes the window so that the page's viewport is <paramref name="width"/> by <paramref name="height"/> (a headless window's frame takes some).</summary>
    private static void SetViewport(ChromeDriver driver, int width, int height)
    {
        driver.Manage().Window.Size = new Size(width, height);
        var inner = (IReadOnlyCollection<object>)driver.ExecuteScript("return [window.innerWidth, window.innerHeight]")!;
        int w = Convert.ToInt32(inner.First(), CultureInfo.InvariantCulture), h = Convert.ToInt32(inner.Last(), CultureInfo.InvariantCulture);
        driver.Manage().Window.Size = new Size(2 * width - w, 2 * height - h);
    }

    /// <summary>
    /// That the page at the top, unscrolled, shows the controls, the ring, every log row, the
    /// selected server's details and menu, and the console: their bottoms within the window.
    /// </summary>
    private void FitsTheWindow(ChromeDriver driver, string when)
    {
        var box = (Dictionary<string, object>)driver.ExecuteScript("""
            const bottom = id => document.getElementById(id).getBoundingClientRect().bottom;
            return { scrollY: window.scrollY, height: window.innerHeight, width: window.innerWidth,
                     travel: bottom("travel"), partition: bottom("partition"), ring: bottom("ring"), logRows: bottom("log-rows"),
                     details: bottom("details"), menu: bottom("server-menu"), kvForm: bottom("kv-form") };
            """)!;
        double Get(string key) => Convert.ToDouble(box[key], CultureInfo.InvariantCulture);
        output.WriteLine($"{when}: " + string.Join(", ", box.Select(kv => FormattableString.Invariant($"{kv.Key} {Convert.ToDouble(kv.Value, CultureInfo.InvariantCulture):0}"))));
        Get("width").Should().Be(1600);
        Get("height").Should().Be(1000);
        Get("scrollY").Should().Be(0);
        foreach (string part in new[] { "travel", "partition", "ring", "logRows", "details", "menu", "kvForm" })
        {
            Get(part).Should().BeLessThanOrEqualTo(1000, $"the bottom of {part} shows in a 1600x1000 window {when}");
        }
    }

    /// <summary>The point an element's two attributes give (an SVG circle's centre).</summary>
    private static PointF Point(IWebElement e, string x, string y) =>
        new(float.Parse(e.GetDomAttribute(x)!, CultureInfo.InvariantCulture), float.Parse(e.GetDomAttribute(y)!, CultureInfo.InvariantCulture));

    /// <summary>Server <paramref name="id"/>'s centre on the ring.</summary>
    private static PointF Centre(IWebDriver d, int id) => Point(d.FindElement(By.CssSelector($"#ring .server[data-id='{id}'] circle.body")), "cx", "cy");

    /// <summary>A message's dot, and the centres of the servers at either end of its way.</summary>
    private sealed record Dot(PointF At, PointF From, PointF To);

    private static double Distance(PointF a, PointF b) => Math.Sqrt(((a.X - b.X) * (a.X - b.X)) + ((a.Y - b.Y) * (a.Y - b.Y)));

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
        try
        {
            wait.Until(d => d.FindElements(By.CssSelector("#cards .card[data-role=Leader][data-status=connected]")).Any(c => c.GetDomAttribute("id") != id));
        }
        catch (WebDriverTimeoutException e)
        {
            // What the page said of the crash, and what its cards show.
            string cards = string.Join("; ", driver.FindElements(By.CssSelector("#cards .card")).Select(c => $"{c.GetDomAttribute("id")} {c.GetDomAttribute("data-role")} {c.GetDomAttribute("data-status")}"));
            throw new WebDriverTimeoutException($"{e.Message}; the notice: '{driver.FindElement(By.Id("notice")).Text}'; the cards: {cards}; cluster time {driver.FindElement(By.Id("cluster-time")).Text}", e);
        }
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
