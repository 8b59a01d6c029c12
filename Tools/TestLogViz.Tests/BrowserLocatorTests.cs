// The browser test's search for Chromium and ChromeDriver, on made-up machines.
using FluentAssertions;
using Xunit;

namespace TestLogViz;

public sealed class BrowserLocatorTests
{
    /// <summary>The search on a machine with these variables and these files.</summary>
    private static BrowserSetup Find(Dictionary<string, string> env, string[] files, bool windows = false) =>
        BrowserLocator.Find(name => env.GetValueOrDefault(name), files.Contains, windows);

    [Fact]
    public void SettingsComeFirst()
    {
        var setup = Find(
            new() { [BrowserLocator.BrowserVariable] = "/x/chrome", [BrowserLocator.DriverVariable] = "/x/driver", ["PATH"] = "/usr/bin" },
            ["/x/chrome", "/x/driver", "/usr/bin/chromium", "/usr/bin/chromedriver"]);

        setup.Should().Be(new BrowserSetup("/x/chrome", "/x/driver", null));
    }

    [Fact]
    public void SettingNamingMissingFileIsReported()
    {
        var setup = Find(new() { [BrowserLocator.BrowserVariable] = "/nowhere/chrome", ["PATH"] = "/usr/bin" },
            ["/usr/bin/chromium", "/usr/bin/chromedriver"]);

        setup.Browser.Should().BeNull();
        setup.Driver.Should().Be("/usr/bin/chromedriver");
        setup.Problem.Should().Be($"{BrowserLocator.BrowserVariable} names /nowhere/chrome, which does not exist");
    }

    [Fact]
    public void PathIsSearchedInOrderForEveryName()
    {
        var setup = Find(new() { ["PATH"] = "/opt/a:/home/me/bin" },
            ["/home/me/bin/chromium", "/opt/a/google-chrome-stable", "/home/me/bin/chromedriver"]);

        setup.Should().Be(new BrowserSetup("/opt/a/google-chrome-stable", "/home/me/bin/chromedriver", null));
    }

    [Fact]
    public void UsualPlacesWhenNotOnPath()
    {
        Find(new() { ["PATH"] = "/usr/local/bin" },
                ["/Applications/Google Chrome.app/Contents/MacOS/Google Chrome", "/opt/homebrew/bin/chromedriver"])
            .Should().Be(new BrowserSetup("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome", "/opt/homebrew/bin/chromedriver", null));

        Find(new() { ["PATH"] = "" }, ["/usr/lib/chromium/chromedriver", "/snap/bin/chromium"])
            .Should().Be(new BrowserSetup("/snap/bin/chromium", "/usr/lib/chromium/chromedriver", null));
    }

    [Fact]
    public void WindowsLooksForExeOnPathAndUnderProgramFiles()
    {
        string programFiles = @"C:\Program Files";
        string chrome = Path.Combine(programFiles, "Google/Chrome/Application/chrome.exe");
        string driver = Path.Combine(@"C:\tools", "chromedriver.exe");

        var setup = Find(new() { ["PATH"] = @"C:\Windows;C:\tools", ["ProgramFiles"] = programFiles }, [chrome, driver], windows: true);

        setup.Should().Be(new BrowserSetup(chrome, driver, null));
    }

    [Fact]
    public void NothingFoundSaysWhatWasMissing()
    {
        var setup = Find(new() { ["PATH"] = "/usr/bin" }, []);

        setup.Browser.Should().BeNull();
        setup.Driver.Should().BeNull();
        setup.Problem.Should().Contain("found no Chromium or Chrome browser").And.Contain("found no ChromeDriver")
            .And.Contain(BrowserLocator.BrowserVariable).And.Contain(BrowserLocator.DriverVariable);
    }
}
