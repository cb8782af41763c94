using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Wayland.Wire.Generator;

/// <summary>
/// Reads every protocol XML file given as an AdditionalFiles item and emits, per interface, a static class with its
/// signature (<c>WireInterface</c>), opcodes, enums, typed request senders and event dispatch for clients, and typed
/// event senders and request dispatch for servers; plus <c>WireProtocols</c>, the interfaces by name.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class ProtocolGenerator : IIncrementalGenerator
{
    private static readonly DiagnosticDescriptor BadXml = new(
        "WLGEN001", "Unreadable protocol XML", "{0}: {1}", "Wayland.Wire", DiagnosticSeverity.Error, isEnabledByDefault: true);

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var files = context.AdditionalTextsProvider
            .Where(static f => f.Path.EndsWith(".xml", StringComparison.OrdinalIgnoreCase))
            .Select(static (f, ct) => (Path: f.Path, Text: f.GetText(ct)?.ToString()));
        var parsed = files.Select(static (f, _) =>
        {
            try
            {
                return (f.Path, Protocol: Protocol.Parse(f.Text ?? ""), Error: (string?)null);
            }
            catch (Exception e) when (e is FormatException or System.Xml.XmlException or OverflowException)
            {
                return (f.Path, Protocol: (Protocol?)null, Error: e.Message);
            }
        });

        context.RegisterSourceOutput(parsed, static (spc, p) =>
        {
            if (p.Protocol is null)
            {
                spc.ReportDiagnostic(Diagnostic.Create(BadXml, Location.None, Path.GetFileName(p.Path), p.Error));
                return;
            }

            spc.AddSource($"{p.Protocol.Name}.g.cs", SourceText.From(Emitter.Protocol(p.Protocol), Encoding.UTF8));
        });

        context.RegisterSourceOutput(parsed.Collect(), static (spc, all) =>
        {
            ImmutableArray<Interface> interfaces = [.. all.Where(p => p.Protocol is not null).SelectMany(p => p.Protocol!.Interfaces).OrderBy(i => i.Name, StringComparer.Ordinal)];
            spc.AddSource("WireProtocols.g.cs", SourceText.From(Emitter.Registry(interfaces), Encoding.UTF8));
        });
    }
}
