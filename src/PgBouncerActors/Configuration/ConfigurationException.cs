namespace PgBouncerActors.Configuration;

/// <summary>A configuration that cannot be used; the message is one line naming file, line, key and what was expected.</summary>
public sealed class ConfigurationException(string message, Exception? inner = null) : Exception(message, inner);
