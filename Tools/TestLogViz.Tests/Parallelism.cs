// How this assembly's tests share the machine.
using Xunit;
using Xunit.v3;

// Four classes at a time rather than one per core: the long tests (the browser's, and the two that
// run child `dotnet test` processes) spend their time waiting for other processes, and with two
// at a time on a 2-core machine the child runs waited for each other beside the browser.
[assembly: Parallelization(MaxThreads = 4)]
