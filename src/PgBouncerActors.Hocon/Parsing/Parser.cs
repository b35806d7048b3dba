using System.Text;
using PgBouncerActors.Hocon.Model;

namespace PgBouncerActors.Hocon.Parsing;

/// <summary>
/// Builds a document's tree from tokens. Fields are merged into the document as they are read, so
/// that a duplicate key merges with (or replaces) what came before, and a self-reference
/// (<c>a = ${a} x</c>, <c>a += x</c>) can be bound to the value before it at parse time.
/// </summary>
internal sealed class Parser
{
    private const int MaxIncludeDepth = 16;

    // Deeper nesting would overflow the stack, which .NET cannot catch: refuse it with an error.
    private const int MaxNesting = 256;

    private readonly List<Token> _tokens;
    private readonly string _file;
    private readonly string? _baseDirectory;
    private readonly int _includeDepth;
    private readonly ObjectNode _document;
    private readonly IReadOnlyList<string>? _includePrefix;
    private int _position;
    private int _nesting;

    private Parser(string text, string file, string? baseDirectory, int includeDepth, ObjectNode document, IReadOnlyList<string>? includePrefix)
    {
        _tokens = new Tokenizer(text, file).Tokenize();
        _file = file;
        _baseDirectory = baseDirectory;
        _includeDepth = includeDepth;
        _document = document;
        _includePrefix = includePrefix;
    }

    public static ObjectNode ParseDocument(string text, string file, string? baseDirectory)
    {
        var document = new ObjectNode(new SourceLocation(file, 1, 1));
        new Parser(text, file, baseDirectory, 0, document, null).ParseRootInto(document, []);
        return document;
    }

    private Token Peek => _tokens[_position];

    private Token Advance() => _tokens[_position++];

    private void ParseRootInto(ObjectNode target, IReadOnlyList<string> prefix)
    {
        SkipBlank();
        if (Peek.Kind == TokenKind.LeftBracket)
        {
            throw new HoconException(Peek.Location, "a configuration document must be an object, not an array");
        }

        if (Peek.Kind == TokenKind.LeftBrace)
        {
            var open = Advance();
            ParseObjectBody(target, prefix, open);
            SkipBlank();
            if (Peek.Kind != TokenKind.EndOfFile)
            {
                throw new HoconException(Peek.Location, $"unexpected {Peek} after the closing '}}' of the document");
            }
        }
        else
        {
            ParseObjectBody(target, prefix, open: null);
        }
    }

    /// <summary>Fields up to the matching '}' (or the end of the file when <paramref name="open"/> is null).</summary>
    private void ParseObjectBody(ObjectNode target, IReadOnlyList<string> prefix, Token? open) =>
        ParseSeparated(open, open is null ? null : TokenKind.RightBrace, "a field", "fields", () =>
        {
            if (IsInclude())
            {
                ParseInclude(target, prefix);
            }
            else
            {
                ParseField(target, prefix);
            }
        });

    /// <summary>
    /// Elements separated by ',' or newlines up to <paramref name="closing"/> (or the end of the file
    /// when null). One trailing comma is allowed; two commas in a row are not.
    /// </summary>
    private void ParseSeparated(Token? open, TokenKind? closing, string element, string elements, Action parseElement)
    {
        var needSeparator = false;
        while (true)
        {
            var token = Peek;
            switch (token.Kind)
            {
                case TokenKind.Whitespace:
                    Advance();
                    continue;
                case TokenKind.Newline:
                    Advance();
                    needSeparator = false;
                    continue;
                case TokenKind.Comma when needSeparator:
                    Advance();
                    needSeparator = false;
                    continue;
                case TokenKind.Comma:
                    throw new HoconException(token.Location, $"unexpected ',': expected {element}");
                case TokenKind.EndOfFile when closing is null:
                    return;
                case TokenKind.EndOfFile:
                    throw new HoconException(open!.Location, $"this '{open.Text}' is never closed");
            }

            if (token.Kind == closing)
            {
                Advance();
                return;
            }

            if (needSeparator)
            {
                throw new HoconException(token.Location, $"expected ',' or a newline between {elements}, got {token}");
            }

            parseElement();
            needSeparator = true;
        }
    }

    private void ParseField(ObjectNode target, IReadOnlyList<string> prefix)
    {
        var keyToken = Peek;
        var keys = ParseKey();
        SkipWhitespace();
        var separator = Peek;
        var append = false;
        switch (separator.Kind)
        {
            case TokenKind.LeftBrace:
                break;
            case TokenKind.Colon or TokenKind.Equals:
                Advance();
                SkipBlank();
                break;
            case TokenKind.PlusEquals:
                Advance();
                SkipBlank();
                append = true;
                break;
            default:
                throw new HoconException(separator.Location,
                    $"expected ':', '=', '+=' or '{{' after the key '{HoconPath.Render(keys)}', got {separator}");
        }

        var path = prefix.Concat(keys).ToArray();
        var value = ParseValue(path);
        if (append)
        {
            // a += x  means  a = ${?a} [x]
            var self = new SubstitutionNode(keyToken.Location, path, optional: true);
            value = new ConcatenationNode(value.Location, [self, new ArrayNode(value.Location, [value])]);
        }

        Assign(target, keys, value, path);
    }

    private List<string> ParseKey()
    {
        var keys = new List<string>();
        var current = new StringBuilder();
        var hasContent = false;
        var start = Peek;
        while (true)
        {
            var token = Peek;
            if (token.Kind == TokenKind.UnquotedText)
            {
                Advance();
                var pieces = token.Text.Split('.');
                for (var i = 0; i < pieces.Length; i++)
                {
                    if (i > 0)
                    {
                        FinishKey(token);
                    }

                    current.Append(pieces[i]);
                    hasContent |= pieces[i].Length > 0;
                }
            }
            else if (token.Kind == TokenKind.QuotedString)
            {
                Advance();
                current.Append(token.Text);
                hasContent = true;
            }
            else if (token.Kind == TokenKind.Whitespace && hasContent &&
                     _tokens[_position + 1].Kind is TokenKind.UnquotedText or TokenKind.QuotedString)
            {
                Advance();
                current.Append(token.Text);
            }
            else
            {
                break;
            }
        }

        if (keys.Count == 0 && !hasContent)
        {
            throw new HoconException(start.Location, $"expected a key, got {start}");
        }

        FinishKey(Peek);
        return keys;

        void FinishKey(Token at)
        {
            if (!hasContent)
            {
                throw new HoconException(at.Location, "empty key segment (two dots in a row, or a leading or trailing dot)");
            }

            keys.Add(current.ToString());
            current.Clear();
            hasContent = false;
        }
    }

    /// <summary>A value up to the end of the line, a ',' or a closing bracket: one part, or a concatenation.</summary>
    private Node ParseValue(IReadOnlyList<string> path)
    {
        var start = Peek;
        var parts = new List<Node>();
        while (true)
        {
            var token = Peek;
            switch (token.Kind)
            {
                case TokenKind.Whitespace:
                    Advance();
                    if (parts.Count > 0)
                    {
                        parts.Add(new ScalarNode(token.Location, HoconScalarKind.String, token.Text, isWhitespace: true));
                    }

                    continue;
                case TokenKind.QuotedString:
                    Advance();
                    parts.Add(new ScalarNode(token.Location, HoconScalarKind.String, token.Text));
                    continue;
                case TokenKind.UnquotedText:
                    Advance();
                    var kind = HoconScalarText.Classify(token.Text);
                    parts.Add(new ScalarNode(token.Location, kind, kind == HoconScalarKind.Null ? null : token.Text));
                    continue;
                case TokenKind.Substitution:
                    Advance();
                    parts.Add(new SubstitutionNode(token.Location, HoconPath.Parse(token.Text, token.Location), token.Optional)
                    {
                        IncludePrefix = _includePrefix,
                    });
                    continue;
                case TokenKind.LeftBrace:
                    EnterNesting(token);
                    var open = Advance();
                    var literal = new ObjectNode(open.Location);
                    ParseObjectBody(literal, path, open);
                    parts.Add(literal);
                    _nesting--;
                    continue;
                case TokenKind.LeftBracket:
                    EnterNesting(token);
                    parts.Add(ParseArray(path));
                    _nesting--;
                    continue;
                case TokenKind.Colon or TokenKind.Equals or TokenKind.PlusEquals:
                    throw new HoconException(token.Location, $"unexpected {token} inside a value (quote the value if it contains one)");
            }

            break;
        }

        while (parts.Count > 0 && parts[^1] is ScalarNode { IsWhitespace: true })
        {
            parts.RemoveAt(parts.Count - 1);
        }

        return parts.Count switch
        {
            0 => throw new HoconException(start.Location, $"expected a value, got {start}"),
            1 => parts[0],
            _ => new ConcatenationNode(parts[0].Location, parts),
        };
    }

    private void EnterNesting(Token at)
    {
        if (++_nesting > MaxNesting)
        {
            throw new HoconException(at.Location, $"objects and arrays nested more than {MaxNesting} deep");
        }
    }

    private ArrayNode ParseArray(IReadOnlyList<string> path)
    {
        var open = Advance();
        var items = new List<Node>();
        ParseSeparated(open, TokenKind.RightBracket, "an array element", "array elements", () => items.Add(ParseValue(path)));
        return new ArrayNode(open.Location, items);
    }

    /// <summary>Puts <paramref name="value"/> at <paramref name="keys"/> under <paramref name="target"/>, merging with what is there.</summary>
    private void Assign(ObjectNode target, IReadOnlyList<string> keys, Node value, IReadOnlyList<string> fullPath)
    {
        var parent = target;
        for (var i = 0; i < keys.Count - 1; i++)
        {
            parent = DescendForWrite(parent, keys[i], value.Location);
        }

        var key = keys[^1];
        // Only a self-reference needs the earlier value: look it up on demand.
        Node? Prior() => parent.Fields.TryGetValue(key, out var earlier) ? earlier : FindInDocument(fullPath);
        var boundToPrior = false;
        value = BindSelfReferences(value, fullPath, Prior, ref boundToPrior);
        Merge(parent, key, value, boundToPrior);
    }

    private static ObjectNode DescendForWrite(ObjectNode parent, string key, SourceLocation location)
    {
        if (parent.Fields.TryGetValue(key, out var existing))
        {
            if (existing is ObjectNode existingObject)
            {
                return existingObject;
            }

            if (existing.IsDeferred)
            {
                // a = ${x}, then a.b = 1: what ${x} turns out to be decides whether b merges into it.
                var overlay = new ObjectNode(location);
                parent.Fields[key] = new MergeNode(existing, overlay);
                return overlay;
            }
        }

        var fresh = new ObjectNode(location);
        parent.Fields[key] = fresh;
        return fresh;
    }

    private static void Merge(ObjectNode parent, string key, Node value, bool replacesPrior)
    {
        if (!parent.Fields.TryGetValue(key, out var existing) || replacesPrior)
        {
            parent.Fields[key] = value;
        }
        else if (value is ObjectNode overlay && existing is ObjectNode fallback)
        {
            foreach (var (childKey, childValue) in overlay.Fields)
            {
                Merge(fallback, childKey, childValue, replacesPrior: false);
            }
        }
        else if (value.IsDeferred || (value is ObjectNode && existing.IsDeferred))
        {
            // Decided at resolution: objects merge, an undefined ${?x} keeps the earlier value, anything else wins.
            parent.Fields[key] = new MergeNode(existing, value);
        }
        else
        {
            // A non-object replaces, and so blocks merging with any object before it.
            parent.Fields[key] = value;
        }
    }

    /// <summary>
    /// Replaces <c>${path}</c> inside the value assigned to that same path by the earlier value;
    /// with no earlier value in this document it is marked to look below this document instead.
    /// </summary>
    private Node BindSelfReferences(Node value, IReadOnlyList<string> fullPath, Func<Node?> prior, ref bool boundToPrior)
    {
        switch (value)
        {
            case SubstitutionNode substitution when RefersTo(substitution, fullPath):
                boundToPrior = true;
                if (prior() is { } earlier)
                {
                    return earlier;
                }

                return new SubstitutionNode(substitution.Location, fullPath, substitution.Optional) { SelfReferenceIn = _document };
            case ConcatenationNode concatenation:
                var parts = new List<Node>(concatenation.Parts.Count);
                foreach (var part in concatenation.Parts)
                {
                    parts.Add(BindSelfReferences(part, fullPath, prior, ref boundToPrior));
                }

                return new ConcatenationNode(concatenation.Location, parts);
            case ArrayNode array:
                var items = new List<Node>(array.Items.Count);
                foreach (var item in array.Items)
                {
                    items.Add(BindSelfReferences(item, fullPath, prior, ref boundToPrior));
                }

                return new ArrayNode(array.Location, items);
            default:
                return value;
        }
    }

    private static bool RefersTo(SubstitutionNode substitution, IReadOnlyList<string> fullPath) =>
        substitution.Path.SequenceEqual(fullPath) ||
        (substitution.IncludePrefix is { } prefix && prefix.Concat(substitution.Path).SequenceEqual(fullPath));

    /// <summary>The value parsed so far at <paramref name="path"/>, following plain objects only.</summary>
    private Node? FindInDocument(IReadOnlyList<string> path)
    {
        Node current = _document;
        foreach (var key in path)
        {
            if (current is not ObjectNode node || !node.Fields.TryGetValue(key, out var child))
            {
                return null;
            }

            current = child;
        }

        return current;
    }

    private bool IsInclude()
    {
        if (Peek is not { Kind: TokenKind.UnquotedText, Text: "include" } ||
            _tokens[_position + 1].Kind != TokenKind.Whitespace)
        {
            return false;
        }

        var next = _tokens[_position + 2];
        return next.Kind == TokenKind.QuotedString ||
               (next.Kind == TokenKind.UnquotedText && next.Text is "required(" or "file(" or "required(file(" or "url(" or "classpath(");
    }

    private void ParseInclude(ObjectNode target, IReadOnlyList<string> prefix)
    {
        var keyword = Advance();
        var opening = new StringBuilder();
        var closing = new StringBuilder();
        string? name = null;
        while (Peek.Kind is not (TokenKind.Newline or TokenKind.Comma or TokenKind.RightBrace or TokenKind.EndOfFile))
        {
            var token = Advance();
            if (token.Kind == TokenKind.QuotedString && name is null)
            {
                name = token.Text;
            }
            else if (token.Kind == TokenKind.UnquotedText)
            {
                (name is null ? opening : closing).Append(token.Text);
            }
            else if (token.Kind != TokenKind.Whitespace)
            {
                throw new HoconException(token.Location, $"unexpected {token} in include");
            }
        }

        var form = opening + "…" + closing;
        var required = form switch
        {
            "…" or "file(…)" => false,
            "required(…)" or "required(file(…))" => true,
            _ => throw new HoconException(keyword.Location,
                $"unsupported include form '{opening}\"…\"{closing}': use include \"file\", include file(\"file\") or include required(file(\"file\"))"),
        };
        if (name is null)
        {
            throw new HoconException(keyword.Location, "include needs a quoted file name");
        }

        IncludeFile(target, prefix, keyword.Location, name, required);
    }

    private void IncludeFile(ObjectNode target, IReadOnlyList<string> prefix, SourceLocation at, string name, bool required)
    {
        if (name.Length == 0 || name.Contains('\0'))
        {
            throw new HoconException(at, $"include '{name.Replace("\0", "\\0")}' is not a file name");
        }

        var fullPath = Path.GetFullPath(Path.IsPathRooted(name) ? name : Path.Combine(_baseDirectory ?? Directory.GetCurrentDirectory(), name));
        if (!File.Exists(fullPath))
        {
            if (required)
            {
                throw new HoconException(at, $"required include '{name}' not found (looked for {fullPath})");
            }

            return; // the spec: a missing non-required include is silently ignored
        }

        if (_includeDepth >= MaxIncludeDepth)
        {
            throw new HoconException(at, $"includes nested more than {MaxIncludeDepth} deep; does '{name}' include itself?");
        }

        string text;
        try
        {
            text = File.ReadAllText(fullPath);
        }
        catch (IOException exception)
        {
            throw new HoconException(at, $"cannot read include '{fullPath}': {exception.Message}", exception);
        }

        var included = new Parser(text, fullPath, Path.GetDirectoryName(fullPath), _includeDepth + 1, _document,
            prefix.Count > 0 ? prefix : null);
        included.ParseRootInto(target, prefix);
    }

    private void SkipWhitespace()
    {
        while (Peek.Kind == TokenKind.Whitespace)
        {
            Advance();
        }
    }

    private void SkipBlank()
    {
        while (Peek.Kind is TokenKind.Whitespace or TokenKind.Newline)
        {
            Advance();
        }
    }
}
