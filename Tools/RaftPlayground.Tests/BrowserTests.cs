// The page in a real browser: headless Chromium driven through ChromeDriver, clicking what a
// learner would click and reading what the page shows, not the API's answers.
using FluentAssertions;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using TestLogViz;
using Xunit;

namespace RaftPlayground;

// Each test runs a whole cluster; two at once on a 2-core machine would starve each other's timers.
[Collection("cluster")]
public sealed class BrowserTests : IDisposable
{
    /// <summary>The browser's profile, thrown away after the test.</summary>
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("raftplayground-browser-");

    /// <summary>The browser, once started; quit in Dispose whatever the test did.</summary>
    private ChromeDriver? _driver;

    [Fact]
    public async Task PageShowsLeaderCrashAndReplication()
    {
        // Found before anything else, so a machine without a browser skips at once.
        BrowserSetup browser = RequireBrowser();
        await using var p = await Playground.StartAsync(new PlaygroundOptions { Servers = 3, Port = 0, KvPortBase = 0 });

        ChromeDriver driver = StartBrowser(browser);
        driver.Navigate().GoToUrl(p.Address);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(20)) { PollingInterval = TimeSpan.FromMilliseconds(50) };

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
        answer.Text.Should().MatchRegex(@"^Put\(planet, mars\) … was \(no such key\) · server \d · [\d.]+ ms$");

        wait.Message = "the running servers' contents never all showed planet=mars";
        wait.Until(d =>
        {
            var running = d.FindElements(By.CssSelector("#cards .card:not([data-status=crashed])"));
            return running.Count == 2 && running.All(c =>
                c.FindElements(By.CssSelector("tr[data-key=planet] td")).Select(td => td.Text).SequenceEqual(["planet", "mars"]));
        });
        driver.FindElement(By.Id(leaderId)).FindElements(By.CssSelector("tr[data-key]")).Should().BeEmpty("a crashed server shows no contents");
    }

    private static void ShouldBeDead(ChromeDriver driver, string cardId) =>
        driver.FindElement(By.Id(cardId)).GetCssValue("background-color").Should().Be("rgba(226, 226, 226, 1)", "a crashed server's card is TestLogViz's dead grey");

    /// <summary>
    /// The browser and driver, as TestLogViz's browser test finds them. Without them the test is
    /// skipped with the reason, unless <see cref="BrowserLocator.RequireVariable"/> is 1 (CI sets it).
    /// </summary>
    private static BrowserSetup RequireBrowser()
    {
        var setup = BrowserLocator.FindOnThisMachine();
        if (setup.Problem is null)
        {
            return setup;
        }
        string reason = $"this test needs Chromium or Chrome and a matching ChromeDriver: {setup.Problem}. " +
                        $"Install them (Debian/Ubuntu: apt-get install -y chromium chromium-driver) or set " +
                        $"{BrowserLocator.BrowserVariable} and {BrowserLocator.DriverVariable} to their paths.";
        if (Environment.GetEnvironmentVariable(BrowserLocator.RequireVariable) == "1")
        {
            Assert.Fail($"{BrowserLocator.RequireVariable}=1 and {reason}");
        }
        Assert.Skip(reason);
        return setup;
    }

    /// <summary>Starts the browser through the driver found, so Selenium Manager never downloads anything.</summary>
    private ChromeDriver StartBrowser(BrowserSetup browser)
    {
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(browser.Driver)!, Path.GetFileName(browser.Driver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = browser.Browser };
        options.AddArguments(
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic", "--window-size=1400,900",
            $"--user-data-dir={Path.Combine(_work.FullName, "profile")}");

        // A loaded 2-core machine can take a while to start a browser: allow it two minutes.
        _driver = new ChromeDriver(service, options, TimeSpan.FromMinutes(2));
        return _driver;
    }

    public void Dispose()
    {
        try
        {
            _driver?.Quit();
        }
        finally
        {
            _driver?.Dispose();
            try
            {
                _work.Delete(recursive: true);
            }
            catch (IOException)
            {
                // Chromium may still be letting go of its profile; the temp folder is cleaned eventually.
            }
        }
    }
}
