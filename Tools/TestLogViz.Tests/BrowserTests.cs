// The page in a real browser: headless Chromium or Chrome, driven through ChromeDriver, looking at
// what a person would see (visible rows, cell colours) rather than at the HTML text.
using System.Diagnostics;
using System.Drawing;
using System.Globalization;
using FluentAssertions;
using OpenQA.Selenium;
using OpenQA.Selenium.Interactions;
using OpenQA.Selenium.Support.UI;
using Xunit;

namespace TestLogViz;

public sealed class BrowserTests(ITestOutputHelper output, SharedBrowser shared) : IDisposable
{
    /// <summary>Set to a folder to get the screenshots the tests take along the way (for looking at the page).</summary>
    private const string ScreenshotVariable = "TESTLOGVIZ_SCREENSHOTS";

    /// <summary>How often a wait looks again (WebDriverWait's own half second is most of a short test's time).</summary>
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);

    /// <summary>The page, thrown away after the test.</summary>
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("testlogviz-browser-");

    [Fact]
    public async Task PageShowsTimelineAndFilters()
    {
        // Found before anything else, so a machine without a browser skips at once.
        var browser = HeadlessBrowser.FindOrSkip();

        // The real run of Part1's TestElectionFollowerComesBack, rendered by the tool.
        var (code, _, stderr) = await PageWriterTests.RunToolAsync(
            [LogParserTests.DataPath("TestElectionFollowerComesBack.trx"), "--out", _work.FullName], stdin: null);
        code.Should().Be(0, stderr);
        var test = LogParser.Parse(File.ReadAllText(LogParserTests.DataPath("TestElectionFollowerComesBack.trx")))[0];

        using var turn = await shared.TakeAsync(browser);
        var driver = turn.Driver;
        driver.Navigate().GoToUrl(new Uri(Path.Combine(_work.FullName, "TestElectionFollowerComesBack.html")).AbsoluteUri);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(30)) { PollingInterval = Poll };
        wait.Message = "the page did not finish loading its 157 rows";
        wait.Until(d => d.FindElement(By.Id("count")).Text == "157 rows");

        driver.Title.Should().Be("TestElectionFollowerComesBack -- PASS");
        VisibleRows(driver).Should().Be(test.Lines.Count);

        // The line where server 1 wins term 1 is drawn in the leader's green, and so is its column
        // on the next row; server 0's cell beside it is a follower's white.
        var leaderCell = driver.FindElement(By.XPath("//tbody/tr/td[contains(., 'becomes Leader; term=1')]"));
        ColourOf(leaderCell).Should().Be(Color.FromArgb(0xd3, 0xf3, 0xe1));
        var nextRow = leaderCell.FindElement(By.XPath("../following-sibling::tr[1]"));
        ColourOf(nextRow.FindElement(By.XPath("td[4]"))).Should().Be(Color.FromArgb(0xd3, 0xf3, 0xe1), "column 1 is server 1's");
        ColourOf(nextRow.FindElement(By.XPath("td[3]"))).Should().Be(Color.FromArgb(0xff, 0xff, 0xff), "column 0 is server 0's");

        // The ribbon shows server 1's two terms as leader.
        driver.FindElements(By.CssSelector("#ribbons .seg.Leader")).Select(s => s.Text)
            .Should().Equal("Leader, term 1", "Leader, term 5");

        // A click on server 2's header leaves its rows and TEST's; another click brings all back.
        int server2Rows = test.Lines.Count(e => e.Id is "2" or "TEST");
        var header2 = driver.FindElement(By.CssSelector("th[data-col='2'] button"));
        header2.Click();
        wait.Message = $"a click on server 2's header did not narrow the table to its {server2Rows} rows and TEST's";
        wait.Until(d => VisibleRows(d) == server2Rows);
        driver.FindElement(By.Id("count")).Text.Should().Be($"{server2Rows} of 157 rows · server 2 and TEST only");
        driver.FindElement(By.XPath("//tbody/tr/td[contains(., 'Disconnect 2')]")).Displayed.Should().BeTrue();
        driver.FindElement(By.XPath("//tbody/tr/td[contains(., 'becomes Leader; term=1')]")).Displayed.Should().BeFalse();
        header2.Click();
        wait.Message = "a second click on server 2's header did not bring all rows back";
        wait.Until(d => VisibleRows(d) == test.Lines.Count);

        // Typing in the filter box narrows the rows to those containing the text, in any case.
        int becomesLeader = test.Lines.Count(e => e.Message.Contains("becomes leader", StringComparison.OrdinalIgnoreCase));
        becomesLeader.Should().Be(2);
        driver.FindElement(By.Id("filter")).SendKeys("BECOMES LEADER");
        wait.Message = "typing in the filter box did not narrow the table to the 2 'becomes Leader' rows";
        wait.Until(d => VisibleRows(d) == becomesLeader);
        driver.FindElement(By.Id("count")).Text.Should().Be("2 of 157 rows");
    }

    [Fact]
    public async Task PageDrawsMessagesBetweenTheRightColumns()
    {
        var browser = HeadlessBrowser.FindOrSkip();

        // A real run of Part2's TestCommitOneCommand: server 1 wins term 2, then "submitting 42 to 1".
        string trx = LogParserTests.DataPath("TestCommitOneCommand.trx");
        var (code, _, stderr) = await PageWriterTests.RunToolAsync([trx, "--out", _work.FullName], stdin: null);
        code.Should().Be(0, stderr);
        var test = LogParser.Parse(File.ReadAllText(trx))[0];
        var pairs = new MessagePairs(test);

        using var turn = await shared.TakeAsync(browser);
        var driver = turn.Driver;
        var js = driver;
        driver.Navigate().GoToUrl(new Uri(Path.Combine(_work.FullName, "TestCommitOneCommand.html")).AbsoluteUri);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(30)) { Message = "the page never drew its arrows", PollingInterval = Poll };
        wait.Until(d => d.FindElement(By.TagName("body")).GetAttribute("data-ready") is not null);

        // The winning election: a RequestVote from 1 to each of 0 and 2, each arrow starting in
        // column 1 at the "sending" row and ending in the peer's column at its handler's row.
        var votes = pairs.All.Where(m => m.Kind == RpcKind.RequestVote && m.From == "1" && m.Args.Contains("Term = 2", StringComparison.Ordinal)).ToList();
        votes.Select(m => m.To).Should().BeEquivalentTo(["0", "2"]);
        foreach (var vote in votes)
        {
            await CheckArrowAsync(driver, pairs, test.ServerIds, vote);
        }

        // The entry submitted to the leader goes out to both followers, drawn as AppendEntries with
        // entries (not a pale heartbeat).
        var appends = pairs.All.Where(m => m.Kind == RpcKind.AppendEntries && !m.Heartbeat).ToList();
        appends.Select(m => m.To).Should().BeEquivalentTo(["0", "2"]);
        foreach (var append in appends)
        {
            (await CheckArrowAsync(driver, pairs, test.ServerIds, append)).Should().Be("m ae", "AppendEntries with entries is drawn in full colour, not as a heartbeat");
        }
        Screenshot(driver, "messages");

        // Hovering the first of them shows its fields, and outlines its cells. The pointer goes to a
        // point of its line that no other arrow covers, once the drawing has settled (see CheckArrowAsync).
        int index = pairs.All.ToList().IndexOf(appends[0]);
        var tip = driver.FindElement(By.Id("tip"));
        for (int attempt = 1; ; attempt++)
        {
            await CheckArrowAsync(driver, pairs, test.ServerIds, appends[0]);
            var point = (IReadOnlyCollection<object>?)js.ExecuteScript("""
                const g = document.querySelector('#arrows g[data-i="' + arguments[0] + '"]');
                const [x1, y1, x2, y2] = g.querySelector("path.hit").getAttribute("d").match(/-?[\d.]+/g).map(Number);
                const box = document.getElementById("logwrap").getBoundingClientRect();
                for (const t of [0.5, 0.35, 0.65, 0.2, 0.8]) {
                  const x = box.left + x1 + (x2 - x1) * t, y = box.top + y1 + (y2 - y1) * t;
                  if (document.elementFromPoint(x, y)?.closest("g.m") === g) return [Math.round(x), Math.round(y)];
                }
                return null;
                """, index);
            point.Should().NotBeNull("some point of the arrow is not covered by another");
            var xy = point!.Select(Convert.ToInt32).ToArray();
            new Actions(driver).MoveToLocation(1, 1).MoveToLocation(xy[0], xy[1]).Perform();
            var shown = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (!(tip.Displayed && tip.Text.StartsWith("AppendEntries from 1", StringComparison.Ordinal)) && DateTime.UtcNow < shown)
            {
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
            if (tip.Displayed || attempt == 3)
            {
                break;
            }
        }
        tip.Displayed.Should().BeTrue("hovering an arrow shows a box with its fields");
        tip.Text.Should().StartWith($"AppendEntries from 1 to {appends[0].To}")
            .And.Contain("fields: Term = 2, LeaderId = 1, PrevLogIndex = -1, PrevLogTerm = -1, Entries = [{42 2}], LeaderCommit = -1")
            .And.Contain("reply: Term = 2, Success = True (accepted)")
            .And.Contain($"network: call #{appends[0].NetId}");
        driver.FindElements(By.CssSelector("#log td.msgcell")).Select(c => c.Text.Split(':')[0]).Should().Equal(
            ["sending AppendEntries to " + appends[0].To, "AppendEntries", "AppendEntries reply", "net"],
            "the cells where it was sent, arrived, answered and where the answer came back are outlined");
        Screenshot(driver, "hover");

        // Turning the arrows off removes them; on again brings them back.
        driver.FindElement(By.Id("show-messages")).Click();
        wait.Message = "unticking Messages left arrows on the page";
        wait.Until(_ => ArrowCount(driver) == 0);
        tip.Displayed.Should().BeFalse();
        driver.FindElement(By.Id("show-messages")).Click();
        wait.Message = "ticking Messages again brought no arrows back";
        wait.Until(_ => ArrowCount(driver) > 0);

        // Heartbeats can go on their own.
        driver.FindElement(By.Id("show-heartbeats")).Click();
        wait.Message = "unticking Heartbeats left heartbeats on the page";
        wait.Until(_ => driver.FindElements(By.CssSelector("#arrows g.hb")).Count == 0);
        driver.FindElement(By.Id("show-heartbeats")).Click();

        // A server's view keeps only the arrows that server sent or received.
        driver.FindElement(By.CssSelector("th[data-col='0'] button")).Click();
        wait.Message = "server 0's view did not narrow the rows";
        wait.Until(d => d.FindElement(By.Id("count")).Text.Contains("server 0 and TEST only", StringComparison.Ordinal));
        js.ExecuteScript("window.scrollTo(0, 0);");
        wait.Message = "server 0's view drew no arrows";
        wait.Until(_ => ArrowCount(driver) > 0);
        var ends = ((IReadOnlyCollection<object>)js.ExecuteScript(
            "return [...document.querySelectorAll('#arrows g.m')].map(g => g.dataset.from + '>' + g.dataset.to);")!).Cast<string>().ToList();
        ends.Should().NotBeEmpty().And.AllSatisfy(e => e.Split('>').Should().Contain("0", "server 0's view shows only what server 0 sent or received"));
        Screenshot(driver, "server0");
    }

    /// <summary>A Go log has no recording: its page keeps the table and the arrows, and says why there is no player.</summary>
    [Fact]
    public async Task GoLogPageKeepsItsTableAndArrowsWithoutAPlayer()
    {
        var browser = HeadlessBrowser.FindOrSkip();
        var (code, _, stderr) = await PageWriterTests.RunToolAsync(["--out", _work.FullName], File.ReadAllText(LogParserTests.DataPath("go-test-v.log")));
        code.Should().Be(0, stderr);
        var test = LogParser.Parse(File.ReadAllText(LogParserTests.DataPath("go-test-v.log")))[0];
        int arrows = new MessagePairs(test).All.Count;
        arrows.Should().BePositive("the Go sample has a heartbeat and its reply");

        using var turn = await shared.TakeAsync(browser);
        var driver = turn.Driver;
        driver.Navigate().GoToUrl(new Uri(Path.Combine(_work.FullName, test.Name + ".html")).AbsoluteUri);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(30)) { Message = "the Go log's page never drew its arrows", PollingInterval = Poll };
        wait.Until(d => ArrowCount(d) == arrows);

        VisibleRows(driver).Should().Be(test.Lines.Count);
        driver.FindElement(By.Id("no-player")).Text.Should().StartWith("No player for this run: its log has no recording (a Go log");
        driver.FindElements(By.Id("player")).Should().BeEmpty();
    }

    [Fact]
    public async Task LargePageOpensAndScrollsQuickly()
    {
        var browser = HeadlessBrowser.FindOrSkip();

        // 10,000+ lines as a five-server KV test writes them: heartbeats, entries, clients' lines.
        var log = LargeLog(5, 10_200);
        string path = Path.Combine(_work.FullName, "TestLarge.html");
        var render = Stopwatch.StartNew();
        File.WriteAllText(path, PageWriter.Render(log, "TestLarge"));
        render.Stop();
        int messages = new MessagePairs(log).All.Count;

        using var turn = await shared.TakeAsync(browser);
        var driver = turn.Driver;
        var js = driver;
        driver.Navigate().GoToUrl(new Uri(path).AbsoluteUri);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(60)) { Message = "the large page never finished drawing", PollingInterval = Poll };
        wait.Until(d => d.FindElement(By.TagName("body")).GetAttribute("data-ready") is not null);
        // From the start of navigation to the first arrows drawn.
        double opened = double.Parse(driver.FindElement(By.TagName("body")).GetAttribute("data-ready")!, CultureInfo.InvariantCulture);
        driver.FindElement(By.Id("count")).Text.Should().Be($"{log.Lines.Count} rows");

        // Scroll: 7 jumps spread from top to bottom, then 6 screens one after the other from the
        // middle, each step timed until the frame after it has been drawn (arrows included).
        driver.Manage().Timeouts().AsynchronousJavaScript = TimeSpan.FromSeconds(100);
        var steps = (IReadOnlyCollection<object>)js.ExecuteAsyncScript("""
            const done = arguments[arguments.length - 1];
            const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
            (async () => {
              const times = [];
              const end = () => document.documentElement.scrollHeight - innerHeight;
              const svg = document.getElementById("arrows");
              const step = async y => {
                const t = performance.now();
                scrollTo(0, y);
                await frame();
                times.push([performance.now() - t, Number(svg.dataset.ms)]);
              };
              for (let k = 0; k <= 6; k++) await step(end() * k / 6);
              const middle = end() / 2;
              for (let k = 1; k <= 6; k++) await step(middle + k * innerHeight);
              done(times);
            })();
            """)!;
        // The player, back at the top: 20 jumps across the whole run, each timed until its frame is
        // drawn, then 1.5 s of playing at 1/20x, every frame's interval kept.
        var player = (IReadOnlyDictionary<string, object>)js.ExecuteAsyncScript("""
            const done = arguments[arguments.length - 1];
            const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
            (async () => {
              // Watched as a learner watches it: the player on the screen, the table below it.
              scrollTo(0, 0);
              await frame();
              const slider = document.getElementById("player-slider"), end = window.raftPlayer.endMs;
              const jumps = [];
              for (let k = 20; k >= 1; k--) {
                const t = performance.now();
                slider.value = end * ((k * 7) % 20 + 0.5) / 20;
                slider.dispatchEvent(new Event("input"));
                await frame();
                jumps.push(performance.now() - t);
              }
              window.raftPlayer.show(end / 3);
              document.getElementById("player-play").click();
              const gaps = [];
              let last = performance.now();
              const until = last + 1500;
              while (performance.now() < until) {
                await new Promise(r => requestAnimationFrame(r));
                const now = performance.now();
                gaps.push(now - last);
                last = now;
              }
              document.getElementById("player-play").click();
              done({ jumps, gaps, opened: Number(document.body.dataset.playerReady) });
            })();
            """)!;
        var jumps = ((IReadOnlyCollection<object>)player["jumps"]).Select(t => Convert.ToDouble(t, CultureInfo.InvariantCulture)).ToList();
        var gaps = ((IReadOnlyCollection<object>)player["gaps"]).Select(t => Convert.ToDouble(t, CultureInfo.InvariantCulture)).ToList();
        double playerReady = Convert.ToDouble(player["opened"], CultureInfo.InvariantCulture);
        Screenshot(driver, "large-player");
        var times = steps.Cast<IReadOnlyCollection<object>>().Select(t => Convert.ToDouble(t.First(), CultureInfo.InvariantCulture)).ToList();
        var draws = steps.Cast<IReadOnlyCollection<object>>().Select(t => Convert.ToDouble(t.Last(), CultureInfo.InvariantCulture)).ToList();
        long drawn = (long)js.ExecuteScript("return document.querySelectorAll('#arrows g.m').length;")!;
        Screenshot(driver, "large-bottom");

        string report = string.Create(CultureInfo.InvariantCulture,
            $"{log.Lines.Count} lines, {messages} messages, page {new FileInfo(path).Length / 1024} KB written in {render.ElapsedMilliseconds} ms; " +
            $"opened with its first arrows in {opened:0} ms; {times.Count} scroll steps (7 jumps across it, 6 screens in a row), " +
            $"{times.Sum():0} ms in all, median {times.Order().ElementAt(times.Count / 2):0} ms, slowest {times.Max():0} ms; " +
            $"drawing the arrows took a median {draws.Order().ElementAt(draws.Count / 2):0.0} ms of that, at most {draws.Max():0.0} ms; " +
            $"the player was ready {playerReady:0} ms after navigation began; 20 jumps of its slider took a median {jumps.Order().ElementAt(jumps.Count / 2):0} ms " +
            $"to their frame, at most {jumps.Max():0} ms; playing, {gaps.Count} frames in 1.5 s, median {gaps.Order().ElementAt(gaps.Count / 2):0.0} ms apart, at most {gaps.Max():0} ms");
        output.WriteLine(report);
        TestContext.Current.SendDiagnosticMessage(report);

        drawn.Should().BeGreaterThan(0, "the last screen has arrows");
        // Generous bounds: this is a check that nothing stalls, not a benchmark (the machine may be
        // busy). A step is mostly the browser laying out the rows it jumps to; the arrows' part is
        // their drawing, which must stay small whatever the page's length.
        opened.Should().BeLessThan(30_000, report);
        times.Max().Should().BeLessThan(10_000, report);
        draws.Max().Should().BeLessThan(1_000, report);
        jumps.Max().Should().BeLessThan(2_000, report);
        gaps.Max().Should().BeLessThan(1_000, report);
        playerReady.Should().BePositive(report);
    }

    /// <summary>
    /// A generated log in the shapes the parts write: a leader (server 0) sends a heartbeat or, every
    /// fourth round, an entry to each follower, with the network's lines, the handlers' lines and
    /// the replies; a client's and the service's lines between rounds.
    /// </summary>
    internal static ParsedLog LargeLog(int servers, int atLeast)
    {
        var log = new ParsedLog("TestLarge") { Status = "PASS" };
        // A simulated run's clock: from midnight, so the rows' times are the recording's.
        var clock = new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Local);
        var recording = new LargeRecording(servers);
        double Now() => clock.TimeOfDay.TotalMilliseconds;
        void Add(string id, string message)
        {
            clock = clock.AddTicks(170);
            log.Lines.Add(new LogLine(clock.ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture), id, message));
        }
        Add("0", "becomes Leader; term=1, nextIndex=map[1:0 2:0 3:0 4:0], matchIndex=map[1:-1 2:-1 3:-1 4:-1]; log=[]");
        recording.Leader(Now(), 0);
        long call = 0;
        for (int round = 0; log.Lines.Count < atLeast; round++)
        {
            bool entry = round % 4 == 3;
            string entries = entry ? $"[{{put k{round} {round}}} 1}}]" : "[]";
            Add(ParsedLog.TestId, $"[client1] sending Put k{round} to service 0");
            string args = $"AppendEntriesArgs {{ Term = 1, LeaderId = 0, PrevLogIndex = {round - 1}, PrevLogTerm = 1, Entries = {entries}, LeaderCommit = {round - 2} }}";
            long first = call + 1;
            for (int peer = 1; peer < servers; peer++)
            {
                Add("0", $"sending AppendEntries to {peer}: ni={round}, args={args}");
                recording.Sent(Now(), first + peer - 1, 0, peer, !entry, args, 0.001 * peer);
            }
            if (entry)
            {
                recording.Append(Now(), 0, $"put k{round}");
            }
            for (int peer = 1; peer < servers; peer++)
            {
                call++;
                Add(peer.ToString(CultureInfo.InvariantCulture), $"net: #{call} AppendEntries from 0 arrives after 0.{peer:000} ms");
                recording.Step(Now(), call, 0, peer, "delivered");
                Add(peer.ToString(CultureInfo.InvariantCulture), $"AppendEntries: {args}");
                if (entry)
                {
                    recording.Append(Now(), peer, $"put k{round}");
                }
                Add(peer.ToString(CultureInfo.InvariantCulture), "AppendEntries reply: AppendEntriesReply { Term = 1, Success = True, ConflictIndex = 0, ConflictTerm = 0 }");
                recording.Step(Now(), call, 0, peer, "replied");
                Add("0", $"net: #{call} AppendEntries reply from {peer} after 0.{peer + 1:000} ms");
                recording.Step(Now(), call, 0, peer, "reply-delivered");
                Add("0", $"AppendEntries reply from {peer} success: nextIndex := map[1:{round} 2:{round}], matchIndex := map[1:{round - 1} 2:{round - 1}]; commitIndex := {round - 1}");
            }
            Add("0", $"[kv 0] applied Put k{round}");
            Add(ParsedLog.TestId, $"[client1] Put k{round} done");
            recording.Commit(Now());
        }
        log.Recording = recording.Json(Now());
        return log;
    }

    /// <summary>
    /// The recording of <see cref="LargeLog"/>'s run, in the format Lab.Recorder writes: server 0
    /// leads term 1; each round its AppendEntries go out and come back, and every fourth carries
    /// an entry that every server appends, then commits.
    /// </summary>
    private sealed class LargeRecording
    {
        private readonly System.Text.StringBuilder _events = new();
        private readonly int _servers;
        private readonly int[] _length;
        private int _commit = -1;

        public LargeRecording(int servers)
        {
            _servers = servers;
            _length = new int[servers];
            for (int id = 0; id < servers; id++)
            {
                Server(0, id, null);
            }
        }

        public void Leader(double t, int id) => Server(t, id, null);

        public void Sent(double t, long msg, int from, int to, bool heartbeat, string args, double delayMs)
        {
            Event(t, $"\"type\":\"message\",\"id\":{msg},\"step\":\"sent\",\"from\":{from},\"to\":{to},\"method\":\"AppendEntries\",\"heartbeat\":{(heartbeat ? "true" : "false")},\"args\":{System.Text.Json.JsonSerializer.Serialize(args)}");
            Event(t, $"\"type\":\"message\",\"id\":{msg},\"step\":\"delayed\",\"from\":{from},\"to\":{to},\"method\":\"AppendEntries\",\"delayMs\":{delayMs.ToString(CultureInfo.InvariantCulture)}");
        }

        public void Step(double t, long msg, int from, int to, string step) =>
            Event(t, $"\"type\":\"message\",\"id\":{msg},\"step\":\"{step}\",\"from\":{from},\"to\":{to},\"method\":\"AppendEntries\"" + (step == "replied" ? ",\"reply\":\"AppendEntriesReply { Term = 1, Success = True }\",\"ok\":true" : ""));

        public void Append(double t, int id, string command) => Server(t, id, command);

        public void Commit(double t)
        {
            _commit = _length[0] - 1;
            for (int id = 0; id < _servers; id++)
            {
                Server(t, id, null);
            }
        }

        public string Json(double end) =>
            $"{{\"format\":\"raft-recording\",\"version\":1,\"test\":\"TestLarge\",\"seed\":1,\"servers\":{_servers},\"endMs\":{end.ToString(CultureInfo.InvariantCulture)},\"events\":[{_events.ToString().TrimEnd(',')}]}}";

        private void Server(double t, int id, string? command)
        {
            string log = "";
            if (command is not null)
            {
                log = $",\"log\":{{\"from\":{_length[id]},\"entries\":[[1,\"{command}\"]]}}";
                _length[id]++;
            }
            string role = id == 0 && t > 0 ? "Leader" : "Follower";
            string timer = role == "Leader" ? "" : $",\"timerStartMs\":{t.ToString(CultureInfo.InvariantCulture)},\"timeoutMs\":250";
            string progress = role == "Leader"
                ? $",\"nextIndex\":{{{string.Join(',', Enumerable.Range(1, _servers - 1).Select(p => $"\"{p}\":{_length[p]}"))}}},\"matchIndex\":{{{string.Join(',', Enumerable.Range(1, _servers - 1).Select(p => $"\"{p}\":{_length[p] - 1}"))}}}"
                : "";
            Event(t, $"\"type\":\"server\",\"id\":{id},\"role\":\"{role}\",\"term\":1,\"votedFor\":0,\"status\":\"connected\",\"commitIndex\":{_commit},\"lastApplied\":{_commit}{timer}{log}{progress}");
        }

        private void Event(double t, string fields) =>
            _events.Append(CultureInfo.InvariantCulture, $"{{\"t\":{Math.Round(t, 3).ToString(CultureInfo.InvariantCulture)},{fields}}},");
    }

    /// <summary>
    /// Scrolls the message's send row into view and checks its arrow: it exists, and its request
    /// starts in the sender's column at the send row and ends in the receiver's at the arrival row.
    /// Returns the arrow's classes.
    /// </summary>
    private static async Task<string> CheckArrowAsync(IWebDriver driver, MessagePairs pairs, IReadOnlyList<string> servers, RpcMessage m)
    {
        var js = (IJavaScriptExecutor)driver;
        int index = pairs.All.ToList().IndexOf(m);
        js.ExecuteScript("document.querySelectorAll('#log tbody tr')[arguments[0]].scrollIntoView({ block: 'center' });", m.SendRow);
        // Read in one go: the arrows are drawn anew on every scroll, so an element found now may be
        // gone next. And read until the drawing has caught up: rows coming into view take their
        // real height a frame after they are drawn, and the arrows follow them on the next frame.
        IReadOnlyDictionary<string, object>? geometry = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        do
        {
            geometry = (IReadOnlyDictionary<string, object>?)js.ExecuteScript("""
            const [i, from, to, sent, arrived] = arguments;
            const g = document.querySelector('#arrows g[data-i="' + i + '"]');
            if (!g) return null;
            const box = document.getElementById("logwrap").getBoundingClientRect();
            const [x1, y1, x2, y2] = g.querySelector("path.request").getAttribute("d").match(/-?[\d.]+/g).map(Number);
            const col = c => document.querySelector('th[data-col="' + c + '"]').getBoundingClientRect();
            const row = r => document.querySelectorAll("#log tbody tr")[r].getBoundingClientRect();
            const inside = (x, y, cx, ry) => x + box.left >= cx.left && x + box.left <= cx.right && y + box.top >= ry.top && y + box.top <= ry.bottom;
            return { kind: g.dataset.kind, cls: g.getAttribute("class"), start: inside(x1, y1, col(from), row(sent)), end: inside(x2, y2, col(to), row(arrived)) };
            """, index, servers.ToList().IndexOf(m.From), servers.ToList().IndexOf(m.To), m.SendRow, m.ArriveRow);
            if (geometry is not null && geometry["start"] is true && geometry["end"] is true)
            {
                break;
            }
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
        while (DateTime.UtcNow < deadline);
        geometry.Should().NotBeNull($"an arrow for {m.Kind} from {m.From} to {m.To} is drawn");
        geometry!["kind"].Should().Be(m.Kind.ToString());
        geometry["start"].Should().Be(true, $"the arrow of {m.Kind} from {m.From} starts in column {m.From} at row {m.SendRow}");
        geometry["end"].Should().Be(true, $"the arrow of {m.Kind} to {m.To} ends in column {m.To} at row {m.ArriveRow}");
        return (string)geometry["cls"];
    }

    private static long ArrowCount(IWebDriver driver) =>
        (long)((IJavaScriptExecutor)driver).ExecuteScript("return document.querySelectorAll('#arrows g.m').length;")!;

    /// <summary>Saves a screenshot into <see cref="ScreenshotVariable"/>'s folder, when it is set.</summary>
    internal static void Screenshot(IWebDriver driver, string name)
    {
        if (Environment.GetEnvironmentVariable(ScreenshotVariable) is { Length: > 0 } dir)
        {
            Directory.CreateDirectory(dir);
            ((ITakesScreenshot)driver).GetScreenshot().SaveAsFile(Path.Combine(dir, name + ".png"));
        }
    }

    /// <summary>How many of the table's rows take up space on the page, i.e. can be seen.</summary>
    private static long VisibleRows(IWebDriver driver) =>
        (long)((IJavaScriptExecutor)driver).ExecuteScript(
            "return [...document.querySelectorAll('#log tbody tr')].filter(r => r.getClientRects().length > 0).length;")!;

    /// <summary>A cell's background as the browser paints it.</summary>
    private static Color ColourOf(IWebElement cell)
    {
        // Chromium reports "rgb(r, g, b)".
        var parts = cell.GetCssValue("background-color").Split('(', ')')[1].Split(',').Select(p => int.Parse(p.Trim(), System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        return Color.FromArgb(parts[0], parts[1], parts[2]);
    }

    public void Dispose() => _work.Delete(recursive: true);
}
