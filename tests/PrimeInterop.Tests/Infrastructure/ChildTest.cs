using System.Reflection;
using System.Xml.Linq;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// Marks a test that runs again in the child test process of <see cref="ChildTest"/>, with these environment
/// variables (<c>NAME=value</c>) set there. All marked tests share that one child, whose environment is the union.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class InChildProcessAttribute(params string[] environment) : Attribute
{
    public IReadOnlyList<string> Environment { get; } = environment;

    /// <summary>
    /// The <see cref="KernelEnv"/> capabilities the test requires (it skips without them before it asks for the
    /// child): where one is missing the child leaves the test, and its environment, out.
    /// </summary>
    public string[] Requires { get; set; } = [];
}

/// <summary>
/// Runs tests again in a child test process with environment variables set, for tests that change process-wide state
/// (resource limits, signal handlers) that must not leak into the rest of the run, or that need the runtime
/// configured differently (W^X off). All of them share one child, started by the first that asks: a test process
/// start (runtime, xunit's discovery of the whole assembly) costs 7-10 s under the rig's emulation. In the child the
/// tests run one after the other; each parent test passes only if its own test passed there.
/// </summary>
public static class ChildTest
{
    private static readonly Lazy<SharedRun> Shared = new(RunShared, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True inside the child, where <paramref name="marker"/>=1 (set by an <see cref="InChildProcessAttribute"/>).</summary>
    public static bool IsChild(string marker) => Environment.GetEnvironmentVariable(marker) == "1";

    /// <summary>
    /// Runs the tests marked with <see cref="InChildProcessAttribute"/> in the child (once per test run) and fails
    /// unless <paramref name="testClass"/>.<paramref name="method"/>, which must be one of them, passed there.
    /// </summary>
    public static void Run(Type testClass, string method)
    {
        ArgumentNullException.ThrowIfNull(testClass);
        Assert.True(testClass.GetMethod(method)?.GetCustomAttribute<InChildProcessAttribute>() is not null,
            $"{testClass.Name}.{method} has no [InChildProcess]: it would not run in the child");
        Shared.Value.AssertPassed(testClass.FullName!, method);
    }

    private static SharedRun RunShared()
    {
        var tests = typeof(ChildTest).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods().Select(m => (Type: t, Method: m, Child: m.GetCustomAttribute<InChildProcessAttribute>())))
            .Where(t => t.Child is not null && t.Child.Requires.All(KernelEnv.HasCapability))
            .ToList();
        var environment = new Dictionary<string, string>();
        foreach (string variable in tests.SelectMany(t => t.Child!.Environment))
        {
            string[] nameValue = variable.Split('=', 2);
            if (environment.TryGetValue(nameValue[0], out string? other) && other != nameValue[1])
            {
                throw new InvalidOperationException($"the child tests want {nameValue[0]} both '{other}' and '{nameValue[1]}'");
            }

            environment[nameValue[0]] = nameValue[1];
        }

        string xml = Path.Combine(Path.GetTempPath(), $"primeinterop-child-{Environment.ProcessId}.xml");
        try
        {
            List<string> args = ["-noColor", "-showLiveOutput", "-parallelMode", "none", "-result-xml", xml];
            foreach (var t in tests)
            {
                args.AddRange(["-method", $"{t.Type.FullName}.{t.Method.Name}"]);
            }

            var child = ChildProcess.RunDotnet(typeof(ChildTest).Assembly.Location, args, environment, TimeSpan.FromMinutes(10));
            return new SharedRun(child, File.Exists(xml) ? XDocument.Load(xml) : null);
        }
        finally
        {
            File.Delete(xml);
        }
    }

    /// <summary>The child's output and its results file (null when it wrote none: a crash).</summary>
    private sealed record SharedRun(ChildResult Child, XDocument? Results)
    {
        public void AssertPassed(string type, string method)
        {
            string everything = $"(child exit {Child.ExitCode}):\n{Child.Out}{Child.Err}";
            Assert.True(Results is not null, $"the child test run wrote no results {everything}");
            var test = Results.Descendants("test").SingleOrDefault(t => (string?)t.Attribute("type") == type && (string?)t.Attribute("method") == method);
            Assert.True(test is not null, $"the child test run did not run {type}.{method} {everything}");
            TestContext.Current.TestOutputHelper?.WriteLine($"in the child test process:\n{test.Element("output")?.Value}");
            Assert.True((string?)test.Attribute("result") == "Pass",
                $"{method} {test.Attribute("result")?.Value} in the child test run: {test.Element("failure")?.Element("message")?.Value}\n{test.Element("failure")?.Element("stack-trace")?.Value}\n{everything}");

            // A failure outside any test (a fixture's or the assembly's cleanup) fails every test that ran there.
            var errors = Results.Descendants("error").Select(e => $"{e.Attribute("type")?.Value} {e.Attribute("name")?.Value}: {e.Element("failure")?.Element("message")?.Value}").ToList();
            Assert.True(errors.Count == 0, $"the child test run had errors outside the tests: {string.Join("; ", errors)} {everything}");
        }
    }
}
