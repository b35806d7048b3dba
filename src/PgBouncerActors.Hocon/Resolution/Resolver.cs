using PgBouncerActors.Hocon.Model;

namespace PgBouncerActors.Hocon.Resolution;

/// <summary>
/// Turns the merged tree of all layers (the document, then its fallbacks) into values. Each node is
/// resolved once and remembered; re-entering a node still being resolved is a substitution cycle.
/// Lookups walk objects without resolving them, so a field may refer to a sibling
/// (<c>bar { foo = 42, baz = ${bar.foo} }</c>) without a false cycle.
/// </summary>
internal sealed class Resolver
{
    // Resolution recurses through substitutions; past this depth it reports instead of overflowing the stack.
    private const int MaxDepth = 1000;

    private readonly IReadOnlyList<ObjectNode> _layers;
    private readonly Node? _root;
    private readonly Func<string, string?> _environment;
    private readonly Dictionary<Node, HoconValue?> _resolved = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Node> _inProgress = new(ReferenceEqualityComparer.Instance);
    private readonly Stack<string> _substitutions = new();
    private readonly Dictionary<int, Resolver> _belowLayer = [];

    public Resolver(IReadOnlyList<ObjectNode> layers, Func<string, string?> environment)
    {
        _layers = layers;
        _environment = environment;
        // The first layer wins: fold the fallbacks underneath it.
        for (var i = layers.Count - 1; i >= 0; i--)
        {
            _root = _root is null ? layers[i] : new MergeNode(_root, layers[i]);
        }
    }

    public HoconObject ResolveRoot(SourceLocation origin)
    {
        if (_root is null)
        {
            return new HoconObject(origin, new OrderedDictionary<string, HoconValue>());
        }

        return Resolve(_root) as HoconObject ?? throw new HoconException(origin, "the configuration root is not an object");
    }

    private HoconValue? LookupFromRoot(IReadOnlyList<string> path) => _root is null ? null : Lookup(_root, path, 0);

    private HoconValue? Resolve(Node node)
    {
        if (_resolved.TryGetValue(node, out var done))
        {
            return done;
        }

        if (_inProgress.Count >= MaxDepth)
        {
            throw new HoconException(node.Location, $"substitutions and values nested more than {MaxDepth} deep");
        }

        if (!_inProgress.Add(node))
        {
            var chain = string.Join(" -> ", _substitutions.Reverse());
            throw new HoconException(node.Location, $"substitution cycle: {chain}");
        }

        HoconValue? value;
        try
        {
            value = node switch
            {
                ObjectNode objectNode => ResolveObject(objectNode),
                ArrayNode array => new HoconArray(array.Location, array.Items.Select(Resolve).OfType<HoconValue>().ToArray()),
                ScalarNode scalar => new HoconScalar(scalar.Location, scalar.Kind, scalar.Text),
                SubstitutionNode substitution => ResolveSubstitution(substitution),
                ConcatenationNode concatenation => ResolveConcatenation(concatenation),
                MergeNode merge => ResolveMerge(merge),
                UndefinedNode => null,
                _ => throw new InvalidOperationException($"unknown node {node.GetType().Name}"),
            };
        }
        finally
        {
            _inProgress.Remove(node);
        }

        _resolved[node] = value;
        return value;
    }

    private HoconObject ResolveObject(ObjectNode node)
    {
        var fields = new OrderedDictionary<string, HoconValue>(node.Fields.Count, StringComparer.Ordinal);
        foreach (var (key, child) in node.Fields)
        {
            if (Resolve(child) is { } value)
            {
                fields[key] = value; // an undefined optional substitution removes the field
            }
        }

        return new HoconObject(node.Location, fields);
    }

    private HoconValue? ResolveMerge(MergeNode merge)
    {
        var overlay = Resolve(merge.Overlay);
        var fallback = Resolve(merge.Fallback);
        return (fallback, overlay) switch
        {
            (_, null) => fallback,
            (HoconObject fallbackObject, HoconObject overlayObject) => HoconObject.Merge(fallbackObject, overlayObject),
            _ => overlay,
        };
    }

    private HoconValue? ResolveSubstitution(SubstitutionNode substitution)
    {
        var shown = "${" + (substitution.Optional ? "?" : "") + substitution.PathText + "}";
        _substitutions.Push(shown);
        try
        {
            var found = substitution.SelfReferenceIn is { } document
                ? LookupBelow(document, substitution.Path)
                : LookupWithIncludePrefix(substitution);
            if (found is not null)
            {
                return found;
            }
        }
        finally
        {
            _substitutions.Pop();
        }

        var variable = string.Join('.', substitution.Path);
        if (_environment(variable) is { } fromEnvironment)
        {
            return new HoconScalar(substitution.Location, HoconScalarKind.String, fromEnvironment);
        }

        if (substitution.Optional)
        {
            return null;
        }

        throw new HoconException(substitution.Location,
            $"cannot resolve {shown}: no setting at that path and no environment variable '{variable}'");
    }

    private HoconValue? LookupWithIncludePrefix(SubstitutionNode substitution)
    {
        if (substitution.IncludePrefix is { } prefix && LookupFromRoot([.. prefix, .. substitution.Path]) is { } fixedUp)
        {
            return fixedUp;
        }

        return LookupFromRoot(substitution.Path);
    }

    /// <summary>A self-reference with nothing before it in its own document looks in the layers below that document.</summary>
    private HoconValue? LookupBelow(ObjectNode document, IReadOnlyList<string> path)
    {
        var index = -1;
        for (var i = 0; i < _layers.Count; i++)
        {
            if (ReferenceEquals(_layers[i], document))
            {
                index = i;
                break;
            }
        }

        if (index < 0 || index + 1 >= _layers.Count)
        {
            return null;
        }

        if (!_belowLayer.TryGetValue(index, out var below))
        {
            below = new Resolver(_layers.Skip(index + 1).ToArray(), _environment);
            _belowLayer[index] = below;
        }

        return below.LookupFromRoot(path);
    }

    private HoconValue? ResolveConcatenation(ConcatenationNode concatenation)
    {
        var values = new List<(HoconValue Value, bool IsWhitespace)>();
        foreach (var part in concatenation.Parts)
        {
            if (Resolve(part) is { } value)
            {
                values.Add((value, part is ScalarNode { IsWhitespace: true }));
            }
        }

        while (values.Count > 0 && values[0].IsWhitespace)
        {
            values.RemoveAt(0);
        }

        while (values.Count > 0 && values[^1].IsWhitespace)
        {
            values.RemoveAt(values.Count - 1);
        }

        var solid = values.Where(entry => !entry.IsWhitespace).Select(entry => entry.Value).ToList();
        if (solid.Count == 0)
        {
            return null;
        }

        if (values.Count == 1)
        {
            return values[0].Value;
        }

        if (solid.Any(value => value is HoconObject))
        {
            var objects = RequireAll<HoconObject>(solid, concatenation, "objects");
            return objects.Skip(1).Aggregate(objects[0], HoconObject.Merge);
        }

        if (solid.Any(value => value is HoconArray))
        {
            var arrays = RequireAll<HoconArray>(solid, concatenation, "arrays");
            return new HoconArray(concatenation.Location, arrays.SelectMany(array => array).ToArray());
        }

        var text = string.Concat(values.Select(entry => ((HoconScalar)entry.Value).Text ?? "null"));
        return new HoconScalar(concatenation.Location, HoconScalarKind.String, text);
    }

    private static List<T> RequireAll<T>(List<HoconValue> values, ConcatenationNode at, string what) where T : HoconValue
    {
        var wrong = values.FirstOrDefault(value => value is not T);
        if (wrong is not null)
        {
            throw new HoconException(at.Location,
                $"cannot concatenate {what} with {Describe(wrong)} (from {wrong.Location}); quote strings or separate the values");
        }

        return values.Cast<T>().ToList();
    }

    private HoconValue? Lookup(Node node, IReadOnlyList<string> path, int index)
    {
        if (index == path.Count)
        {
            return Resolve(node);
        }

        switch (node)
        {
            case ObjectNode objectNode:
                return objectNode.Fields.TryGetValue(path[index], out var child) ? Lookup(child, path, index + 1) : null;
            case MergeNode { Overlay: ObjectNode overlay } merge:
                var fromOverlay = overlay.Fields.ContainsKey(path[index]) ? Lookup(overlay, path, index) : null;
                if (fromOverlay is not null and not HoconObject)
                {
                    return fromOverlay;
                }

                var fromFallback = Lookup(merge.Fallback, path, index);
                return (fromFallback, fromOverlay) switch
                {
                    (HoconObject fallbackObject, HoconObject overlayObject) => HoconObject.Merge(fallbackObject, overlayObject),
                    (_, HoconObject overlayObject) => overlayObject,
                    _ => fromFallback,
                };
            default:
                var value = Resolve(node);
                for (var i = index; i < path.Count; i++)
                {
                    if (value is not HoconObject valueObject || !valueObject.TryGetValue(path[i], out value))
                    {
                        return null;
                    }
                }

                return value;
        }
    }

    internal static string Describe(HoconValue value) => value switch
    {
        HoconObject => "an object",
        HoconArray => "an array",
        HoconScalar { Kind: HoconScalarKind.Null } => "null",
        HoconScalar scalar => $"'{scalar.Text}'",
        _ => value.GetType().Name,
    };
}
