namespace PgBouncerActors.Hocon.Model;

/// <summary>
/// The parsed, not yet resolved document. Substitutions, concatenations and merges whose outcome
/// depends on a substitution stay as nodes until every file and fallback has been merged.
/// </summary>
internal abstract class Node(SourceLocation location)
{
    public SourceLocation Location { get; } = location;

    /// <summary>True for nodes whose value is only known after resolution.</summary>
    public virtual bool IsDeferred => false;
}

internal sealed class ObjectNode(SourceLocation location) : Node(location)
{
    public OrderedDictionary<string, Node> Fields { get; } = new(StringComparer.Ordinal);
}

internal sealed class ArrayNode(SourceLocation location, List<Node> items) : Node(location)
{
    public List<Node> Items { get; } = items;
}

internal sealed class ScalarNode(SourceLocation location, HoconScalarKind kind, string? text, bool isWhitespace = false)
    : Node(location)
{
    public HoconScalarKind Kind { get; } = kind;

    public string? Text { get; } = text;

    /// <summary>Whitespace between the parts of a concatenation: kept inside strings, ignored between objects or arrays.</summary>
    public bool IsWhitespace { get; } = isWhitespace;
}

/// <summary><c>${path}</c> or <c>${?path}</c>.</summary>
internal sealed class SubstitutionNode(SourceLocation location, IReadOnlyList<string> path, bool optional) : Node(location)
{
    public IReadOnlyList<string> Path { get; } = path;

    public bool Optional { get; } = optional;

    /// <summary>Set for substitutions in a file included under a key: that key is tried first (the spec's "fix-up").</summary>
    public IReadOnlyList<string>? IncludePrefix { get; init; }

    /// <summary>
    /// Set for a self-reference (<c>a = ${a} ...</c>, <c>a += x</c>) that had no earlier value in its own
    /// document: it is looked up in the fallbacks below that document, then in the environment.
    /// </summary>
    public ObjectNode? SelfReferenceIn { get; init; }

    public override bool IsDeferred => true;

    public string PathText => HoconPath.Render(Path);
}

internal sealed class ConcatenationNode(SourceLocation location, List<Node> parts) : Node(location)
{
    public List<Node> Parts { get; } = parts;

    public override bool IsDeferred => true;
}

/// <summary>A later value over an earlier one where either is deferred: objects merge, otherwise the later wins.</summary>
internal sealed class MergeNode(Node fallback, Node overlay) : Node(overlay.Location)
{
    public Node Fallback { get; } = fallback;

    public Node Overlay { get; } = overlay;

    public override bool IsDeferred => true;
}

/// <summary>An optional self-reference with nothing before it: contributes nothing.</summary>
internal sealed class UndefinedNode(SourceLocation location) : Node(location);
