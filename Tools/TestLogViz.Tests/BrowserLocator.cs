// Finds a Chromium or Chrome and a ChromeDriver on this machine for the browser test, the way a
// person would look: an explicit setting first, then the PATH, then where installers put them.
namespace TestLogViz;

/// <summary>What the browser test found: both paths, or why it cannot run.</summary>
/// <param name="Browser">The browser's executable, or null if none was found.</param>
/// <param name="Driver">ChromeDriver's executable, or null if none was found.</param>
/// <param name="Problem">Why the test cannot run here (null when both were found).</param>
public sealed record BrowserSetup(string? Browser, string? Driver, string? Problem);

/// <summary>
/// Looks for the browser and its driver. The environment, the PATH and the file system are
/// passed in, so a test can check the search on any machine without touching the real ones.
/// </summary>
public static class BrowserLocator
{
    /// <summary>The browser's executable, when it is not found by the usual means.</summary>
    public const string BrowserVariable = "TESTLOGVIZ_BROWSER";

    /// <summary>ChromeDriver's executable, when it is not found by the usual means.</summary>
    public const string DriverVariable = "TESTLOGVIZ_CHROMEDRIVER";

    /// <summary>Set to 1 (as .ci/run does) to fail, rather than skip, when no browser is found.</summary>
    public const string RequireVariable = "TESTLOGVIZ_REQUIRE_BROWSER";

    /// <summary>Names a Chromium or Chrome executable goes by on a PATH, most common first.</summary>
    private static readonly string[] BrowserNames = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"];

    /// <summary>Where packages and installers put the browser when its folder is not on the PATH.</summary>
    private static readonly string[] BrowserPlaces =
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
        "/snap/bin/chromium",
        "/opt/google/chrome/chrome",
        "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
        "/Applications/Chromium.app/Contents/MacOS/Chromium",
        "%ProgramFiles%/Google/Chrome/Application/chrome.exe",
        "%ProgramFiles(x86)%/Google/Chrome/Application/chrome.exe",
        "%LocalAppData%/Google/Chrome/Application/chrome.exe",
        "%LocalAppData%/Chromium/Application/chrome.exe",
    ];

    /// <summary>Where packages put ChromeDriver when its folder is not on the PATH.</summary>
    private static readonly string[] DriverPlaces =
    [
        "/usr/bin/chromedriver",
        "/usr/lib/chromium/chromedriver",
        "/usr/lib/chromium-browser/chromedriver",
        "/snap/bin/chromium.chromedriver",
        "/opt/homebrew/bin/chromedriver",
        "/usr/local/bin/chromedriver",
    ];

    /// <summary>The search on this machine.</summary>
    public static BrowserSetup FindOnThisMachine() =>
        Find(Environment.GetEnvironmentVariable, File.Exists, OperatingSystem.IsWindows());

    /// <summary>
    /// Looks for both executables: the <see cref="BrowserVariable"/> and <see cref="DriverVariable"/>
    /// settings, then the PATH, then the usual install locations. A setting that names a missing
    /// file is a mistake to report, not a reason to look elsewhere.
    /// </summary>
    public static BrowserSetup Find(Func<string, string?> getEnv, Func<string, bool> exists, bool windows)
    {
        var problems = new List<string>();
        string? browser = FindOne("Chromium or Chrome browser", BrowserVariable, BrowserNames, BrowserPlaces, getEnv, exists, windows, problems);
        string? driver = FindOne("ChromeDriver", DriverVariable, ["chromedriver"], DriverPlaces, getEnv, exists, windows, problems);
        return new BrowserSetup(browser, driver, problems.Count == 0 ? null : string.Join("; ", problems));
    }

    private static string? FindOne(
        string what, string variable, string[] names, string[] places,
        Func<string, string?> getEnv, Func<string, bool> exists, bool windows, List<string> problems)
    {
        if (getEnv(variable) is { Length: > 0 } setting)
        {
            if (exists(setting))
            {
                return setting;
            }
            problems.Add($"{variable} names {setting}, which does not exist");
            return null;
        }

        // The PATH, in order, as a shell would search it; Windows executables end in .exe.
        char separator = windows ? ';' : ':';
        foreach (string dir in (getEnv("PATH") ?? "").Split(separator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (string name in names)
            {
                string candidate = Path.Combine(dir, windows ? name + ".exe" : name);
                if (exists(candidate))
                {
                    return candidate;
                }
            }
        }

        foreach (string place in places)
        {
            if (Expand(place, getEnv) is { } candidate && exists(candidate))
            {
                return candidate;
            }
        }
        problems.Add($"found no {what} (looked at {variable}, the PATH for {string.Join(", ", names)}, and the usual install locations)");
        return null;
    }

    /// <summary>Replaces a leading %NAME% with that variable's value; null if it is not set.</summary>
    private static string? Expand(string place, Func<string, string?> getEnv)
    {
        if (!place.StartsWith('%'))
        {
            return place;
        }
        int end = place.IndexOf('%', 1);
        string? root = getEnv(place[1..end]);
        return string.IsNullOrEmpty(root) ? null : Path.Combine(root, place[(end + 2)..]);
    }
}
