// A headless Chromium for the browser tests, TestLogViz's and RaftPlayground's (linked into both):
// found as BrowserLocator finds it, started through ChromeDriver in a profile of its own, once
// for every browser test of the test assembly.
using System.Drawing;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using Xunit;

[assembly: AssemblyFixture(typeof(TestLogViz.SharedBrowser))]

namespace TestLogViz;

/// <summary>
/// The one browser of a test assembly, started by the first test that takes it (after its check
/// for a browser, so a machine without one still skips) and quit after the last: starting
/// Chromium costs seconds on a loaded machine. One test drives it at a time; each opens its own page.
/// </summary>
public sealed class SharedBrowser : IDisposable
{
    /// <summary>The window's size as every test finds it (a test may change it for itself).</summary>
    private static readonly Size WindowSize = new(1400, 900);

    private readonly SemaphoreSlim _turn = new(1, 1);
    private HeadlessBrowser? _browser;

    /// <summary>
    /// Waits until no other test drives the browser, starts it if it is not running, and gives it
    /// to the caller on a blank page until the turn is disposed.
    /// </summary>
    public async Task<Turn> TakeAsync(BrowserSetup setup)
    {
        await _turn.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            _browser ??= HeadlessBrowser.Start(setup);
            try
            {
                Reset(_browser.Driver);
            }
            catch (Exception e) when (IsGone(e))
            {
                // The last test left it broken (or quit it): a new one.
                HeadlessBrowser broken = _browser;
                _browser = null;
                try
                {
                    broken.Dispose();
                }
                catch (Exception quitting) when (IsGone(quitting))
                {
                    // Its driver is gone already.
                }
                _browser = HeadlessBrowser.Start(setup);
                Reset(_browser.Driver);
            }
            return new Turn(_browser.Driver, _turn);
        }
        catch
        {
            _turn.Release();
            throw;
        }
    }

    /// <summary>What a driver whose browser died or was quit throws.</summary>
    private static bool IsGone(Exception e) => e is WebDriverException or ObjectDisposedException or HttpRequestException;

    private static void Reset(ChromeDriver driver)
    {
        driver.Navigate().GoToUrl("about:blank");
        driver.Manage().Window.Size = WindowSize;
    }

    public void Dispose()
    {
        _browser?.Dispose();
        _turn.Dispose();
    }

    /// <summary>A test's turn at the browser; disposing it lets the next test have it.</summary>
    public sealed class Turn(ChromeDriver driver, SemaphoreSlim turn) : IDisposable
    {
        public ChromeDriver Driver { get; } = driver;

        public void Dispose() => turn.Release();
    }
}

/// <summary>
/// A browser the tests drive. <see cref="FindOrSkip"/> first, so a machine without one skips at
/// once; then <see cref="SharedBrowser.TakeAsync"/>. Disposing quits the browser and deletes its profile.
/// </summary>
public sealed class HeadlessBrowser : IDisposable
{
    /// <summary>The browser's profile, thrown away with it.</summary>
    private readonly DirectoryInfo _profile;

    private HeadlessBrowser(ChromeDriver driver, DirectoryInfo profile)
    {
        Driver = driver;
        _profile = profile;
    }

    /// <summary>The driver of the running browser.</summary>
    public ChromeDriver Driver { get; }

    /// <summary>
    /// The browser and driver to use. Without them the test is skipped, saying what was missing
    /// and how to provide it, unless <see cref="BrowserLocator.RequireVariable"/> is 1 (CI sets it):
    /// then it fails, so a CI machine that lost its browser cannot pass by skipping.
    /// </summary>
    public static BrowserSetup FindOrSkip()
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

    /// <summary>
    /// Starts the browser through the driver found. Naming the driver's file keeps Selenium Manager
    /// from looking for (and downloading) a driver or a browser: no browser test uses the network.
    /// </summary>
    public static HeadlessBrowser Start(BrowserSetup browser)
    {
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(browser.Driver)!, Path.GetFileName(browser.Driver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        DirectoryInfo profile = Directory.CreateTempSubdirectory("headless-browser-");
        var options = new ChromeOptions { BinaryLocation = browser.Browser };
        options.AddArguments(
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic", "--window-size=1400,900",
            $"--user-data-dir={profile.FullName}");

        // A loaded 2-core machine can take a while to start a browser: allow it two minutes.
        return new HeadlessBrowser(new ChromeDriver(service, options, TimeSpan.FromMinutes(2)), profile);
    }

    public void Dispose()
    {
        try
        {
            Driver.Quit();
        }
        finally
        {
            Driver.Dispose();
            try
            {
                _profile.Delete(recursive: true);
            }
            catch (IOException)
            {
                // Chromium may still be letting go of its profile; the temp folder is cleaned eventually.
            }
        }
    }
}
