using System.Globalization;
using System.Text;

namespace PgBouncerActors.Hocon.Parsing;

/// <summary>Turns HOCON text into tokens, keeping the line and column of each, and dropping comments.</summary>
internal sealed class Tokenizer
{
    // Characters that end an unquoted string (HOCON spec, "Unquoted strings").
    private const string Forbidden = "$\"{}[]:=,+#`^?!@*&\\";

    private readonly string _text;
    private readonly string _file;
    private int _position;
    private int _line = 1;
    private int _column = 1;

    public Tokenizer(string text, string file)
    {
        // A byte order mark is not content.
        _text = text.Length > 0 && text[0] == '\uFEFF' ? text[1..] : text;
        _file = file;
    }

    public List<Token> Tokenize()
    {
        var tokens = new List<Token>();
        while (true)
        {
            var token = Next();
            if (token is not null)
            {
                tokens.Add(token);
            }

            if (token?.Kind == TokenKind.EndOfFile)
            {
                return tokens;
            }
        }
    }

    private SourceLocation Here => new(_file, _line, _column);

    private char Peek(int offset = 0) => _position + offset < _text.Length ? _text[_position + offset] : '\0';

    private bool AtEnd => _position >= _text.Length;

    private Token? Next()
    {
        if (AtEnd)
        {
            return new Token(TokenKind.EndOfFile, "", Here);
        }

        var start = Here;
        var c = Peek();
        if (c == '#' || (c == '/' && Peek(1) == '/'))
        {
            while (!AtEnd && Peek() != '\n')
            {
                Advance();
            }

            return null;
        }

        if (c == '\n')
        {
            Advance();
            return new Token(TokenKind.Newline, "\n", start);
        }

        if (IsWhitespace(c))
        {
            var whitespace = new StringBuilder();
            while (!AtEnd && IsWhitespace(Peek()))
            {
                whitespace.Append(Advance());
            }

            return new Token(TokenKind.Whitespace, whitespace.ToString(), start);
        }

        switch (c)
        {
            case ',': Advance(); return new Token(TokenKind.Comma, ",", start);
            case ':': Advance(); return new Token(TokenKind.Colon, ":", start);
            case '=': Advance(); return new Token(TokenKind.Equals, "=", start);
            case '{': Advance(); return new Token(TokenKind.LeftBrace, "{", start);
            case '}': Advance(); return new Token(TokenKind.RightBrace, "}", start);
            case '[': Advance(); return new Token(TokenKind.LeftBracket, "[", start);
            case ']': Advance(); return new Token(TokenKind.RightBracket, "]", start);
            case '+' when Peek(1) == '=':
                Advance();
                Advance();
                return new Token(TokenKind.PlusEquals, "+=", start);
            case '$' when Peek(1) == '{':
                return ReadSubstitution(start);
            case '"' when Peek(1) == '"' && Peek(2) == '"':
                return ReadTripleQuoted(start);
            case '"':
                return ReadQuoted(start);
        }

        if (Forbidden.Contains(c))
        {
            throw new HoconException(start, $"unexpected character '{c}' (quote the string if it is part of a value)");
        }

        return ReadUnquoted(start);
    }

    private Token ReadUnquoted(SourceLocation start)
    {
        var text = new StringBuilder();
        while (!AtEnd)
        {
            var c = Peek();
            if (IsWhitespace(c) || c == '\n' || Forbidden.Contains(c) || (c == '/' && Peek(1) == '/'))
            {
                break;
            }

            text.Append(Advance());
        }

        return new Token(TokenKind.UnquotedText, text.ToString(), start);
    }

    private Token ReadQuoted(SourceLocation start)
    {
        Advance(); // opening quote
        var text = new StringBuilder();
        while (true)
        {
            if (AtEnd || Peek() == '\n')
            {
                throw new HoconException(start, "unterminated quoted string");
            }

            var c = Advance();
            if (c == '"')
            {
                return new Token(TokenKind.QuotedString, text.ToString(), start);
            }

            if (c != '\\')
            {
                text.Append(c);
                continue;
            }

            var escapeAt = Here;
            var escaped = AtEnd ? '\0' : Advance();
            switch (escaped)
            {
                case '"': text.Append('"'); break;
                case '\\': text.Append('\\'); break;
                case '/': text.Append('/'); break;
                case 'b': text.Append('\b'); break;
                case 'f': text.Append('\f'); break;
                case 'n': text.Append('\n'); break;
                case 'r': text.Append('\r'); break;
                case 't': text.Append('\t'); break;
                case 'u':
                    var hex = _position + 4 <= _text.Length ? _text.Substring(_position, 4) : "";
                    if (!int.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code))
                    {
                        throw new HoconException(escapeAt, "\\u must be followed by four hex digits");
                    }

                    for (var i = 0; i < 4; i++)
                    {
                        Advance();
                    }

                    text.Append((char)code);
                    break;
                default:
                    throw new HoconException(escapeAt, $"invalid escape '\\{escaped}' in quoted string");
            }
        }
    }

    private Token ReadTripleQuoted(SourceLocation start)
    {
        Advance();
        Advance();
        Advance();
        var text = new StringBuilder();
        while (true)
        {
            if (AtEnd)
            {
                throw new HoconException(start, "unterminated triple-quoted string");
            }

            if (Peek() == '"' && Peek(1) == '"' && Peek(2) == '"')
            {
                // Quotes just before the closing three belong to the string (HOCON spec).
                while (Peek(3) == '"')
                {
                    text.Append(Advance());
                }

                Advance();
                Advance();
                Advance();
                return new Token(TokenKind.QuotedString, text.ToString(), start);
            }

            text.Append(Advance());
        }
    }

    private Token ReadSubstitution(SourceLocation start)
    {
        Advance(); // $
        Advance(); // {
        var optional = false;
        if (Peek() == '?')
        {
            optional = true;
            Advance();
        }

        var path = new StringBuilder();
        while (true)
        {
            if (AtEnd || Peek() == '\n')
            {
                throw new HoconException(start, "unterminated substitution: expected '}'");
            }

            var c = Advance();
            if (c == '}')
            {
                break;
            }

            if (c == '"')
            {
                path.Append('"');
                while (!AtEnd && Peek() != '"' && Peek() != '\n')
                {
                    path.Append(Advance());
                }

                if (AtEnd || Peek() != '"')
                {
                    throw new HoconException(start, "unterminated quote in substitution");
                }

                path.Append(Advance());
                continue;
            }

            path.Append(c);
        }

        var expression = path.ToString().Trim();
        if (expression.Length == 0)
        {
            throw new HoconException(start, "empty substitution '${}'");
        }

        return new Token(TokenKind.Substitution, expression, start, optional);
    }

    private char Advance()
    {
        var c = _text[_position++];
        if (c == '\n')
        {
            _line++;
            _column = 1;
        }
        else
        {
            _column++;
        }

        return c;
    }

    private static bool IsWhitespace(char c) => c != '\n' && (char.IsWhiteSpace(c) || c == '\uFEFF');
}
