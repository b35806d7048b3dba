namespace PgBouncerActors.Hocon.Parsing;

internal enum TokenKind
{
    EndOfFile,
    Newline,
    Whitespace,
    Comma,
    Colon,
    Equals,
    PlusEquals,
    LeftBrace,
    RightBrace,
    LeftBracket,
    RightBracket,
    QuotedString,
    UnquotedText,
    Substitution,
}

/// <summary>One lexical unit. For a substitution, <see cref="Text"/> is the path expression.</summary>
internal sealed record Token(TokenKind Kind, string Text, SourceLocation Location, bool Optional = false)
{
    public bool IsValuePart => Kind is TokenKind.QuotedString or TokenKind.UnquotedText or TokenKind.Substitution
        or TokenKind.LeftBrace or TokenKind.LeftBracket;

    public override string ToString() => Kind switch
    {
        TokenKind.EndOfFile => "end of file",
        TokenKind.Newline => "newline",
        TokenKind.Substitution => "${" + (Optional ? "?" : "") + Text + "}",
        TokenKind.QuotedString => "\"" + Text + "\"",
        _ => "'" + Text + "'",
    };
}
