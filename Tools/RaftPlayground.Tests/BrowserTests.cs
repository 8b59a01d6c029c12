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
    /// <summary>The browser, once started; quit in Dispose whatever the test did.</summary>
    private HeadlessBrowser? _browser;

    [Fact]
    public async Task PageShowsLeaderCrashAndReplication()
    {
        // Found before anything else, so a machine without a browser skips at once.
        BrowserSetup browser = HeadlessBrowser.FindOrSkip();
        await using var p = await Playground.StartAsync(new PlaygroundOptions { Servers = 3, Port = 0, KvPortBase = 0 });

        _browser = HeadlessBrowser.Start(browser);
        ChromeDriver driver = _browser.Driver;
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

    public void Dispose() => _browser?.Dispose();
}
