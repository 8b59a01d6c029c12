// The page in a real browser: headless Chromium or Chrome, driven through ChromeDriver, looking at
// what a person would see (visible rows, cell colours) rather than at the HTML text.
using System.Drawing;
using FluentAssertions;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using Xunit;

namespace TestLogViz;

public sealed class BrowserTests : IDisposable
{
    /// <summary>The page, thrown away after the test.</summary>
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("testlogviz-browser-");

    /// <summary>The browser, once started; quit in Dispose whatever the test did.</summary>
    private HeadlessBrowser? _browser;

    [Fact]
    public void PageShowsTimelineAndFilters()
    {
        // Found before anything else, so a machine without a browser skips at once.
        var browser = HeadlessBrowser.FindOrSkip();

        // The real run of Part1's TestElectionFollowerComesBack, rendered by the tool.
        var (code, _, stderr) = PageWriterTests.RunTool(
            [LogParserTests.DataPath("TestElectionFollowerComesBack.trx"), "--out", _work.FullName], stdin: null);
        code.Should().Be(0, stderr);
        var test = LogParser.Parse(File.ReadAllText(LogParserTests.DataPath("TestElectionFollowerComesBack.trx")))[0];

        _browser = HeadlessBrowser.Start(browser);
        var driver = _browser.Driver;
        driver.Navigate().GoToUrl(new Uri(Path.Combine(_work.FullName, "TestElectionFollowerComesBack.html")).AbsoluteUri);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(30));
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

    public void Dispose()
    {
        try
        {
            _browser?.Dispose();
        }
        finally
        {
            _work.Delete(recursive: true);
        }
    }
}
