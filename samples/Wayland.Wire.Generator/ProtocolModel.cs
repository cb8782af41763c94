using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Xml.Linq;

namespace Wayland.Wire.Generator;

/// <summary>One protocol XML file, read into what the emitter needs (names as in the XML).</summary>
internal sealed record Protocol(string Name, IReadOnlyList<Interface> Interfaces)
{
    /// <summary>Parses a protocol file; a malformed one throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static Protocol Parse(string xml)
    {
        XElement root = XDocument.Parse(xml).Root ?? throw new FormatException("no root element");
        if (root.Name.LocalName != "protocol")
        {
            throw new FormatException($"the root element is <{root.Name.LocalName}>, not <protocol>");
        }

        return new Protocol(Required(root, "name"), root.Elements("interface").Select(ParseInterface).ToList());
    }

    private static Interface ParseInterface(XElement e)
    {
        string name = Required(e, "name");
        var requests = e.Elements("request").Select((m, i) => ParseMessage(name, m, i)).ToList();
        var events = e.Elements("event").Select((m, i) => ParseMessage(name, m, i)).ToList();
        var enums = e.Elements("enum").Select(ParseEnum).ToList();
        return new Interface(name, uint.Parse(Required(e, "version"), CultureInfo.InvariantCulture), Summary(e), requests, events, enums);
    }

    private static Message ParseMessage(string iface, XElement e, int opcode)
    {
        string name = Required(e, "name");
        var args = e.Elements("arg").Select(a =>
        {
            string type = Required(a, "type");
            if (Array.IndexOf(Arg.Types, type) < 0)
            {
                throw new FormatException($"{iface}.{name}: unknown argument type '{type}'");
            }

            return new Arg(Required(a, "name"), type, (string?)a.Attribute("interface"), (string?)a.Attribute("allow-null") == "true",
                (string?)a.Attribute("enum"), (string?)a.Attribute("summary"));
        }).ToList();
        string? since = (string?)e.Attribute("since");
        return new Message(name, opcode, since is null ? 1 : uint.Parse(since, CultureInfo.InvariantCulture),
            (string?)e.Attribute("type") == "destructor", Summary(e), args);
    }

    private static EnumType ParseEnum(XElement e) => new(Required(e, "name"), (string?)e.Attribute("bitfield") == "true", Summary(e),
        e.Elements("entry").Select(x => new EnumEntry(Required(x, "name"), ParseValue(Required(x, "value")), (string?)x.Attribute("summary"))).ToList());

    private static uint ParseValue(string value) =>
        value.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? uint.Parse(value.Substring(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)
            : uint.Parse(value, CultureInfo.InvariantCulture);

    private static string? Summary(XElement e) => (string?)e.Element("description")?.Attribute("summary");

    private static string Required(XElement e, string attribute) =>
        (string?)e.Attribute(attribute) ?? throw new FormatException($"<{e.Name.LocalName}> without {attribute}=");
}

internal sealed record Interface(string Name, uint Version, string? Summary, IReadOnlyList<Message> Requests, IReadOnlyList<Message> Events, IReadOnlyList<EnumType> Enums);

internal sealed record Message(string Name, int Opcode, uint Since, bool IsDestructor, string? Summary, IReadOnlyList<Arg> Args);

internal sealed record Arg(string Name, string Type, string? Interface, bool Nullable, string? Enum, string? Summary)
{
    /// <summary>wayland.xml's argument types (wayland's protocol DTD).</summary>
    public static readonly string[] Types = ["int", "uint", "fixed", "string", "object", "new_id", "array", "fd"];
}

internal sealed record EnumType(string Name, bool IsBitfield, string? Summary, IReadOnlyList<EnumEntry> Entries);

internal sealed record EnumEntry(string Name, uint Value, string? Summary);
